"""OTWatch: find every device on a plant network, watch its traffic, alert on what is wrong."""

__version__ = "0.1.0"
