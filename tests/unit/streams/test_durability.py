"""The durability settings and the faust options and topic plans built from them (no Kafka)."""

from __future__ import annotations

import faust
import pytest
from pydantic import ValidationError

from redfire.settings import Settings
from redfire.streams.durability import faust_durability_options, internal_topic_plans


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_defaults_take_replication_from_the_cluster_and_keep_no_standby() -> None:
    chosen = settings()
    assert chosen.replication_factor == -1
    assert chosen.min_insync_replicas == -1
    assert chosen.standby_replicas == 0


@pytest.mark.parametrize("name", ["replication_factor", "min_insync_replicas"])
def test_zero_replicas_is_refused_naming_the_setting(name: str) -> None:
    with pytest.raises(ValidationError, match=name):
        settings(**{name: 0})


def test_faust_options_ask_for_acks_all_bounded_waits_and_the_standbys() -> None:
    options = faust_durability_options(
        settings(replication_factor=3, standby_replicas=2, kafka_request_timeout_s=45)
    )
    assert options["producer_acks"] == -1
    assert options["topic_replication_factor"] == 3
    assert options["table_standby_replicas"] == 2
    assert options["producer_request_timeout"] == 45
    assert options["broker_request_timeout"] == 45


def test_faust_accepts_the_options_and_a_cluster_default_placeholder() -> None:
    app = faust.App("durability-options", **faust_durability_options(settings()))
    assert app.conf.producer_acks == -1
    assert app.conf.topic_replication_factor == 1  # replaced at start by prepare_cluster


def test_internal_topics_are_every_changelog_with_faust_config_and_the_leader() -> None:
    app = faust.App("plans", store="memory://", topic_partitions=6)
    app.Table("plain", partitions=3)
    app.Table(
        "expiring", extra_topic_configs={"retention.ms": "1000", "cleanup.policy": "compact,delete"}
    )
    plans = {plan.name: plan for plan in internal_topic_plans(app)}
    assert set(plans) == {
        "plans-plain-changelog",
        "plans-expiring-changelog",
        "plans-__assignor-__leader",
    }
    assert plans["plans-plain-changelog"].partitions == 3
    assert plans["plans-plain-changelog"].config == {"cleanup.policy": "compact"}
    assert plans["plans-expiring-changelog"].partitions == 6
    assert plans["plans-expiring-changelog"].config == {
        "cleanup.policy": "compact,delete",
        "retention.ms": "1000",
    }
    assert plans["plans-__assignor-__leader"].partitions == 1
