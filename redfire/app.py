"""Build the faust App once from the settings; everything else imports ``app``."""

from __future__ import annotations

import logging
import ssl
from typing import Any

import faust
from faust.sensors.prometheus import setup_prometheus_sensors

from redfire.settings import Settings, get_settings
from redfire.streams.durability import faust_durability_options, prepare_cluster


def broker_credentials(settings: Settings) -> Any:
    """Return faust credentials for the configured Kafka security settings."""
    protocol = settings.kafka_security_protocol.upper()
    if protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(
        cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    )
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    if not settings.kafka_sasl_username or not settings.kafka_sasl_password:
        raise ValueError(f"{protocol} needs REDFIRE_KAFKA_SASL_USERNAME and _PASSWORD")
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        ssl_context=context if protocol == "SASL_SSL" else None,
        mechanism=settings.kafka_sasl_mechanism or "PLAIN",
    )


class RedFireApp(faust.App):
    """The faust App, which creates and checks its topics before it consumes."""

    async def on_first_start(self) -> None:
        """Create missing topics; refuse to start on a partition mismatch."""
        await super().on_first_start()
        if not self.client_only:
            await prepare_cluster(self, settings)


def quiet_hot_loggers() -> None:
    """Keep per-message debug logging of aiokafka and faust off in workers.

    The worker's log setup leaves these loggers at DEBUG, and their per-record
    debug calls then cost a log record each on the hot path.
    """
    for name in ("aiokafka", "faust.topics", "faust.transport"):
        logging.getLogger(name).setLevel(logging.INFO)


def create_app(settings: Settings) -> faust.App:
    """Return a configured, not yet started, faust App."""
    quiet_hot_loggers()
    app = RedFireApp(
        settings.app_id,
        broker=settings.broker,
        broker_credentials=broker_credentials(settings),
        store=settings.store,
        datadir=str(settings.datadir),
        processing_guarantee=settings.processing_guarantee,
        topic_partitions=settings.partitions,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_enabled=settings.web_enabled,
        autodiscover=False,
        table_cleanup_interval=30.0,
        producer_linger_ms=settings.producer_linger_ms,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=1000,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        broker_commit_interval=1.0,
        stream_wait_empty=False,
        **faust_durability_options(settings),
    )
    setup_prometheus_sensors(app, name_prefix="faust")
    return app


settings = get_settings()
app = create_app(settings)
