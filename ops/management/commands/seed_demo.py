import random

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Role, User
from agents.models import Agent
from agents.services import agent_create
from assignments.services import distribute
from leads import counters
from leads.models import Lead, LeadStatus

FIRST = [
    "Aarav",
    "Diya",
    "Ishaan",
    "Kavya",
    "Rohan",
    "Saanvi",
    "Vihaan",
    "Anaya",
    "Arjun",
    "Meera",
    "Kabir",
    "Riya",
    "Aditya",
    "Nisha",
    "Dev",
    "Pooja",
    "Farhan",
    "Zara",
]
LAST = ["Sharma", "Patel", "Iyer", "Reddy", "Khan", "Gupta", "Nair", "Singh", "Das", "Mehta"]
AGENTS = [
    ("Asha Rao", "asha@leadline.local", "+919810000001"),
    ("Ravi Kumar", "ravi@leadline.local", "+919810000002"),
    ("Neha Joshi", "neha@leadline.local", "+919810000003"),
    ("Imran Sheikh", "imran@leadline.local", "+919810000004"),
    ("Lakshmi Menon", "lakshmi@leadline.local", "+919810000005"),
]
DEMO_PASSWORD = "leadline-demo"  # noqa: S105 - printed demo login, local use only


class Command(BaseCommand):
    help = (
        "Create demo data for a first run: an admin, a manager, five agents and N leads "
        "distributed round robin. Idempotent: existing demo users are kept and leads are "
        "topped up to N. Prints the logins."
    )

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=60, help="demo leads wanted (default 60)")
        parser.add_argument("--password", default=DEMO_PASSWORD, help="password for demo logins")

    def handle(self, *args, leads, password, **options):
        if leads < 0 or leads > 1_000_000:
            raise CommandError("--leads must be between 0 and 1,000,000.")
        with transaction.atomic():
            self._user("admin@leadline.local", Role.ADMIN, password)
            self._user("manager@leadline.local", Role.MANAGER, password)
            for name, email, mobile in AGENTS:
                if not Agent.objects.filter(email=email).exists():
                    agent_create(name=name, email=email, mobile=mobile, password=password)
            created = self._leads(leads)
        assigned = self._distribute()
        self.stdout.write(
            self.style.SUCCESS(f"Demo data ready: {created} new leads, {assigned} assigned.")
        )
        self.stdout.write(f"  admin    admin@leadline.local / {password}")
        self.stdout.write(f"  manager  manager@leadline.local / {password}")
        for _name, email, _mobile in AGENTS:
            self.stdout.write(f"  agent    {email} / {password}")

    def _user(self, email, role, password):
        if not User.objects.filter(email=email).exists():
            User.objects.create_user(email=email, password=password, role=role)

    def _leads(self, wanted):
        rng = random.Random(7)  # the same demo data on every machine
        existing = set(
            Lead.objects.filter(phone__startswith="+91700").values_list("phone", flat=True)
        )
        missing = max(0, wanted - len(existing))
        rows = []
        n = 0
        while len(rows) < missing:
            phone = f"+91700{n:07d}"
            n += 1
            if phone in existing:
                continue
            rows.append(
                Lead(
                    first_name=rng.choice(FIRST),
                    last_name=rng.choice(LAST),
                    phone=phone,
                    status=rng.choice(
                        [LeadStatus.NEW] * 4 + [LeadStatus.CONTACTED, LeadStatus.QUALIFIED]
                    ),
                    notes="Demo lead",
                )
            )
        Lead.objects.bulk_create(rows, batch_size=1000)
        counters.leads_inserted(rows)
        return len(rows)

    def _distribute(self):
        return distribute(strategy="round_robin").assigned
