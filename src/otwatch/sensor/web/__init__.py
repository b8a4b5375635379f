"""Room ``web/``: the sensor's own console, served by the sensor process over HTTPS.

``app`` builds the application and signs users in; ``deps`` holds what every page shares; ``pages``,
``system``, ``mining`` and ``activation_page`` are the pages; ``host`` is what the pages drive (a
sensor or a managed node); ``server`` serves it. The second room from the top: only ``cli/`` imports it.
"""
