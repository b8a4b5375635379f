"""Published ICS advisories (CSAF 2.0) and which devices they concern: SHARED and pure.

- :mod:`~otwatch.advisories.csaf` reads a CSAF 2.0 document into an :class:`Advisory` of products;
- :mod:`~otwatch.advisories.versions` compares firmware versions and reads version ranges;
- :mod:`~otwatch.advisories.names` normalises vendors, order numbers and wildcards;
- :mod:`~otwatch.advisories.match` decides, for a :class:`Device`, affected or possibly affected.

No database, web or network code here: the console stores and serves what these compute.
"""

from otwatch.advisories.csaf import Advisory, CsafError, Product
from otwatch.advisories.match import Catalog, Device, Exposure, Finding

__all__ = ["Advisory", "Catalog", "CsafError", "Device", "Exposure", "Finding", "Product"]
