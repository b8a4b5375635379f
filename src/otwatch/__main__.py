from otwatch.cli import main

main()
