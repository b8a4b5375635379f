"""Import every domain's models so Base.metadata is complete (Alembic and tests use this)."""

from otwatch.console.alerts.models import Alert
from otwatch.console.assets.models import Asset, AssetProtocol, AssetSource
from otwatch.console.audit.models import AuditEntry
from otwatch.console.auth.models import ApiKey, User
from otwatch.console.credentials.models import Credential
from otwatch.console.db import Base
from otwatch.console.fleet.models import Command, DuplicatedNetwork, IssuedCertificate, Node, PairingKey
from otwatch.console.forwarding.models import Delivery, ForwardingRule
from otwatch.console.mail.models import MailServer
from otwatch.console.networks.models import MonitoredNetwork
from otwatch.console.notifications.models import NodeWatch, SystemNotification
from otwatch.console.settings.models import SettingRow
from otwatch.console.updates.models import SensorUpdateSelection, UpdatePackage
from otwatch.console.vulnerabilities.models import Advisory, AdvisoryCve, AdvisoryProduct, AssetVulnerability

__all__ = [
    "Advisory",
    "AdvisoryCve",
    "AdvisoryProduct",
    "Alert",
    "ApiKey",
    "Asset",
    "AssetProtocol",
    "AssetSource",
    "AssetVulnerability",
    "AuditEntry",
    "Base",
    "Command",
    "Credential",
    "Delivery",
    "DuplicatedNetwork",
    "ForwardingRule",
    "IssuedCertificate",
    "MailServer",
    "MonitoredNetwork",
    "Node",
    "NodeWatch",
    "PairingKey",
    "SensorUpdateSelection",
    "SettingRow",
    "SystemNotification",
    "UpdatePackage",
    "User",
]
