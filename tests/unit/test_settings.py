"""Settings: shipped defaults work with faust and aiokafka; bad combinations are refused early."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from redfire.settings import (
    BROKER_MIN_SESSION_TIMEOUT_S,
    Settings,
    SettingsError,
    kafka_timing_problems,
    load_settings,
)

CLEAN = {"_env_file": None}


@pytest.fixture(autouse=True)
def no_redfire_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read only what each test gives: no REDFIRE_* from the environment running the tests."""
    import os

    for name in list(os.environ):
        if name.startswith("REDFIRE_"):
            monkeypatch.delenv(name)


def refusal(**values: object) -> str:
    with pytest.raises(SettingsError) as refused:
        load_settings(**CLEAN, **values)
    return str(refused.value)


def test_shipped_defaults_are_valid_for_faust_and_aiokafka() -> None:
    settings = Settings(**CLEAN)  # type: ignore[arg-type]
    assert kafka_timing_problems(settings) == []
    # faust refuses session > request at consumer start; aiokafka needs heartbeat < session.
    assert settings.session_timeout_s <= settings.kafka_request_timeout_s
    assert settings.rebalance_timeout_s <= settings.kafka_request_timeout_s
    assert settings.heartbeat_s < settings.session_timeout_s
    assert settings.heartbeat_s <= settings.session_timeout_s / 3
    assert settings.session_timeout_s >= BROKER_MIN_SESSION_TIMEOUT_S


def test_session_longer_than_request_names_both_variables_and_a_value_that_works() -> None:
    message = refusal(session_timeout_s=60, kafka_request_timeout_s=30)
    assert (
        "REDFIRE_SESSION_TIMEOUT_S=60 is greater than REDFIRE_KAFKA_REQUEST_TIMEOUT_S=30" in message
    )
    assert "REDFIRE_SESSION_TIMEOUT_S=10" in message
    assert "Traceback" not in message


def test_the_suggested_values_are_accepted() -> None:
    Settings(**CLEAN, session_timeout_s=10, kafka_request_timeout_s=30)  # type: ignore[arg-type]
    Settings(**CLEAN, session_timeout_s=60, kafka_request_timeout_s=60, rebalance_timeout_s=60)  # type: ignore[arg-type]


def test_rebalance_longer_than_request_is_refused() -> None:
    message = refusal(rebalance_timeout_s=60)
    assert (
        "REDFIRE_REBALANCE_TIMEOUT_S=60 is greater than REDFIRE_KAFKA_REQUEST_TIMEOUT_S=30"
        in message
    )
    assert "REDFIRE_REBALANCE_TIMEOUT_S=30" in message


def test_heartbeat_not_below_session_is_refused() -> None:
    message = refusal(heartbeat_interval_s=10, session_timeout_s=10)
    assert "REDFIRE_HEARTBEAT_INTERVAL_S=10 is not below REDFIRE_SESSION_TIMEOUT_S=10" in message


def test_heartbeat_defaults_to_a_third_of_a_short_session() -> None:
    assert Settings(**CLEAN, session_timeout_s=6).heartbeat_s == 2.0  # type: ignore[arg-type]
    assert Settings(**CLEAN, session_timeout_s=30).heartbeat_s == 3.0  # type: ignore[arg-type]
    assert Settings(**CLEAN, heartbeat_interval_s=1.5).heartbeat_s == 1.5  # type: ignore[arg-type]


@pytest.mark.parametrize("session", [3, 2000])
def test_session_outside_the_broker_range_is_refused(session: float) -> None:
    message = refusal(
        session_timeout_s=session, kafka_request_timeout_s=3000, rebalance_timeout_s=5
    )
    assert f"REDFIRE_SESSION_TIMEOUT_S={session} is outside" in message
    assert "group.min.session.timeout.ms" in message


def test_every_problem_is_reported_at_once() -> None:
    message = refusal(session_timeout_s=60, rebalance_timeout_s=90)
    assert "REDFIRE_SESSION_TIMEOUT_S=60" in message
    assert "REDFIRE_REBALANCE_TIMEOUT_S=90" in message


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("var_method", "foo", "REDFIRE_VAR_METHOD='foo'"),
        ("web_port", 70000, "REDFIRE_WEB_PORT=70000"),
        ("bar_interval", "1 day", "REDFIRE_BAR_INTERVAL='1 day'"),
        ("session_end_utc", "25:00", "REDFIRE_SESSION_END_UTC='25:00'"),
        ("kafka_security_protocol", "TLS", "REDFIRE_KAFKA_SECURITY_PROTOCOL='TLS'"),
        ("kafka_sasl_mechanism", "MD5", "REDFIRE_KAFKA_SASL_MECHANISM='MD5'"),
        ("processing_guarantee", "maybe_once", "REDFIRE_PROCESSING_GUARANTEE='maybe_once'"),
        ("kafka_ssl_cafile", "/nonexistent/ca.pem", "REDFIRE_KAFKA_SSL_CAFILE="),
    ],
)
def test_bad_values_name_their_variable(field: str, value: object, fragment: str) -> None:
    assert fragment in refusal(**{field: value})


def test_sasl_needs_credentials_and_never_echoes_the_password() -> None:
    message = refusal(kafka_security_protocol="SASL_SSL", kafka_sasl_password="hunter2")
    assert "REDFIRE_KAFKA_SASL_USERNAME" in message
    assert "hunter2" not in message
    secret = refusal(kafka_sasl_password=["not", "text"])
    assert "REDFIRE_KAFKA_SASL_PASSWORD=(hidden)" in secret


def test_rules_file_errors_name_the_file_the_rule_and_the_field(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - {rule_id: ok, metric: drawdown, comparison: '>', threshold: 0.1}\n"
        "  - {rule_id: typo, metric: gross_exposre, comparison: '>', threshold: 1}\n"
    )
    message = refusal(rules_file=rules)
    assert f"REDFIRE_RULES_FILE={rules}" in message
    assert "rule 'typo'" in message
    assert "metric='gross_exposre'" in message
    assert "did you mean 'gross_exposure'" in message


def test_limits_and_scenarios_files_are_checked_too(tmp_path: Path) -> None:
    limits = tmp_path / "limits.yaml"
    limits.write_text("default:\n  max_order_qty: -5\n")
    assert "max_order_qty=-5" in refusal(limits_file=limits)
    scenarios = tmp_path / "scenarios.yaml"
    scenarios.write_text("- {scenario_id: crash, shocks: {AAPL: .nan}}\n")
    message = refusal(scenarios_file=scenarios)
    assert f"REDFIRE_SCENARIOS_FILE={scenarios}" in message
    assert "scenario 'crash'" in message


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    message = refusal(rules_file=tmp_path / "nope.yaml")
    assert "REDFIRE_RULES_FILE=" in message and "cannot be read" in message


def test_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDFIRE_SESSION_TIMEOUT_S", "60")
    with pytest.raises(ValidationError):
        Settings(**CLEAN)  # type: ignore[arg-type]
    assert "REDFIRE_SESSION_TIMEOUT_S=60" in refusal()


class WithDeliveryTimeout(Settings):
    """The engine core's settings add delivery_timeout_s; the check reads it when present."""

    delivery_timeout_s: float = 60.0


def test_delivery_timeout_below_request_timeout_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        WithDeliveryTimeout(**CLEAN, delivery_timeout_s=10)  # type: ignore[arg-type]
    assert "REDFIRE_DELIVERY_TIMEOUT_S=10 is below REDFIRE_KAFKA_REQUEST_TIMEOUT_S=30" in str(
        refused.value
    )
    assert WithDeliveryTimeout(**CLEAN).delivery_timeout_s == 60  # type: ignore[arg-type]
