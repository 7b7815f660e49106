"""The dashboard's counters (``leads.counters``), filled from the leads already there."""

from collections import Counter
from datetime import UTC

from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Trunc
from django.utils import timezone


def fill(apps, schema_editor):
    # The rows as the leads and assignments stand, grouped by the minute in UTC
    # (no CONVERT_TZ: MariaDB answers NULL without its zone tables); ``rebuild_counters`` does the
    # same on a live desk (this runs before the app serves).
    Lead = apps.get_model("leads", "Lead")
    Assignment = apps.get_model("assignments", "Assignment")
    LeadCount = apps.get_model("leads", "LeadCount")
    DayCount = apps.get_model("leads", "DayCount")
    tz = timezone.get_default_timezone()
    leads, days = Counter(), Counter()
    rows = (
        Lead.objects.order_by()
        .annotate(day=Trunc("created_at", "minute", tzinfo=UTC))
        .values_list("agent_id", "status", "day")
        .annotate(n=Count("id"))
    )
    for agent_id, status, minute, n in rows:
        day = timezone.localdate(minute, tz)
        leads[(agent_id or 0, status)] += n
        days[(day, agent_id or 0, "created")] += n
    rows = (
        Assignment.objects.order_by()
        .annotate(day=Trunc("assigned_at", "minute", tzinfo=UTC))
        .values_list("agent_id", "day")
        .annotate(n=Count("id"))
    )
    for agent_id, minute, n in rows:
        days[(timezone.localdate(minute, tz), agent_id, "assigned")] += n
    LeadCount.objects.bulk_create(
        [LeadCount(agent_key=k, status=s, count=n) for (k, s), n in sorted(leads.items())],
        batch_size=500,
    )
    keys = sorted({(day, key) for day, key, _kind in days})
    DayCount.objects.bulk_create(
        [
            DayCount(
                day=day,
                agent_key=key,
                created=days[(day, key, "created")],
                assigned=days[(day, key, "assigned")],
            )
            for day, key in keys
        ],
        batch_size=500,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0003_lead_scale_indexes'),
        ('assignments', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='DayCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('agent_key', models.BigIntegerField()),
                ('created', models.BigIntegerField(default=0)),
                ('assigned', models.BigIntegerField(default=0)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('day', 'agent_key'), name='daycount_key_uniq')],
            },
        ),
        migrations.CreateModel(
            name='LeadCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('agent_key', models.BigIntegerField()),
                ('status', models.CharField(choices=[('new', 'New'), ('contacted', 'Contacted'), ('qualified', 'Qualified'), ('converted', 'Converted'), ('lost', 'Lost')], max_length=16)),
                ('count', models.BigIntegerField(default=0)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('agent_key', 'status'), name='leadcount_key_uniq')],
            },
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
