"""Operations commands (``flask tenants|users|db|collections|debtors ...``)."""

from __future__ import annotations

from flask import Flask

from portal.cli.collections import collections_group
from portal.cli.database import db_group
from portal.cli.debtors import debtors_group
from portal.cli.demo import demo_group
from portal.cli.ledger import ledger_group
from portal.cli.links import links_group
from portal.cli.notifications import notifications_group
from portal.cli.payments import payments_group
from portal.cli.scheduler import scheduler_command
from portal.cli.statements import statements_group
from portal.cli.users import users_group
from portal.cli.worker import worker_command
from tenants.cli import tenants_group


def register(app: Flask) -> None:
    for group in (
        tenants_group,
        users_group,
        db_group,
        demo_group,
        links_group,
        collections_group,
        payments_group,
        statements_group,
        notifications_group,
        debtors_group,
        ledger_group,
        worker_command,
        scheduler_command,
    ):
        app.cli.add_command(group)
