"""Every Prometheus metric, declared once, on a registry that the caller injects.

Names: the `pronto_` prefix, base units (seconds, ratio), `_total` on counters. Labels come only
from bounded sets: location (the venues file, plus `unknown`), window, channel, reason, outcome,
theme (the venue kind's taxonomy and the venues file's own ids, never free text) and sentiment.
Never a phone number or a customer id.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

logger = logging.getLogger(__name__)

# From 5 ms to 10 min: the webhook->page budget (50/250 ms) and the 60-second promise.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
HUMAN_BUCKETS = (5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 3600)


class Metrics:
    """The metric families. One instance per registry (tests use a fresh registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.registry = registry
        self.feedback_received = Counter(
            "pronto_feedback_received_total", "Feedback accepted and stored in Kafka.",
            ["channel", "location"], registry=r)  # fmt: skip
        self.feedback_rejected = Counter(
            "pronto_feedback_rejected_total", "Requests or records refused, by reason.",
            ["reason"], registry=r)  # fmt: skip
        self.keywords = Counter(
            "pronto_keywords_total", "Opt-out, opt-in, help and status messages.",
            ["reason"], registry=r)  # fmt: skip
        self.fast_path = Counter(
            "pronto_complaints_fast_path_total",
            "Complaints triaged at ingest and sent to the alert stage ahead of scoring.",
            ["location"], registry=r)  # fmt: skip
        self.feedback_scored = Counter(
            "pronto_feedback_scored_total", "Feedback scored and published.",
            ["location"], registry=r)  # fmt: skip
        self.dlq = Counter(
            "pronto_dlq_records_total", "Records sent to the dead-letter topic.",
            ["reason"], registry=r)  # fmt: skip
        self.late_events = Counter(
            "pronto_late_events_total", "Answers too late for their window (beyond the lateness).",
            ["location"], registry=r)  # fmt: skip
        # The rolling scores are exported by `scoring.stage.ScoresCollector`, on scrape.
        self.sentiment = Counter(
            "pronto_sentiment_predictions_total", "Sentiment predictions, by predicted label.",
            ["outcome"], registry=r)  # fmt: skip
        self.sentiment_accuracy = Gauge(
            "pronto_sentiment_accuracy_ratio", "Progressive-validation accuracy of the model.",
            registry=r)  # fmt: skip
        self.model_version = Gauge(
            "pronto_sentiment_model_version", "Updates the sentiment model has learned.",
            registry=r)  # fmt: skip
        self.triage_model_version = Gauge(
            "pronto_triage_model_version",
            "The version of the model snapshot ingest's triage judges text with (the score "
            "stage's model is pronto_sentiment_model_version; a snapshot is published every "
            "PRONTO_SNAPSHOT_INTERVAL_S).",
            registry=r)  # fmt: skip
        self.model_terms = Gauge(
            "pronto_sentiment_model_terms",
            "Terms in the sentiment model's vocabulary (bounded by PRONTO_MODEL_MAX_TERMS).",
            registry=r)  # fmt: skip
        self.feedback_themes = Counter(
            "pronto_feedback_themes_total",
            "Feedback per theme and sentiment (theme: the venue kind's taxonomy or the venues file).",
            ["location", "theme", "sentiment"], registry=r)  # fmt: skip
        self.alerts_opened = Counter(
            "pronto_alerts_opened_total", "Alerts opened, by reason.",
            ["location", "reason"], registry=r)  # fmt: skip
        self.alerts_opened_by_copy = Counter(
            "pronto_alerts_opened_by_copy_total",
            "Customers' alerts opened, by the copy of the feedback that opened them: fast_path "
            "(triaged at ingest) or scored (the fast path missed it: only the score stage's "
            "newer model judged it a complaint, or the fast path's send failed).",
            ["location", "copy"], registry=r)  # fmt: skip
        self.alert_events = Counter(
            "pronto_alert_events_total", "Alert lifecycle events (reason = the event).",
            ["location", "reason"], registry=r)  # fmt: skip
        self.pages_sent = Counter(
            "pronto_pages_sent_total", "Messages sent (pages, customer and manager messages).",
            ["channel", "reason"], registry=r)  # fmt: skip
        self.pages_handed_off = Counter(
            "pronto_pages_handed_off_total", "Messages the notify stage took from the desk in its "
            "process once the broker had them, one Kafka hop before their outbox record came "
            "back (taken), or left to that record (left).", ["outcome"], registry=r)  # fmt: skip
        self.pages_failed = Counter(
            "pronto_pages_failed_total", "Messages that failed to send or were undelivered.",
            ["channel", "reason"], registry=r)  # fmt: skip
        self.escalations = Counter(
            "pronto_escalations_total", "Pages escalated to the next person.",
            ["location", "reason"], registry=r)  # fmt: skip
        self.acks = Counter(
            "pronto_acknowledgements_total", "Alerts acknowledged.",
            ["location", "channel"], registry=r)  # fmt: skip
        self.resolutions = Counter(
            "pronto_alerts_resolved_total", "Alerts resolved.", ["location"], registry=r
        )
        self.recoveries = Counter(
            "pronto_recoveries_total", "Follow-up answers after a resolve.",
            ["location", "outcome"], registry=r)  # fmt: skip
        self.open_alerts = Gauge("pronto_open_alerts", "Alerts open now.", ["location"], registry=r)
        self.gc_pauses = Histogram(
            "pronto_gc_pause_seconds", "Collections of Python's cyclic garbage collector.",
            ["generation"], buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=r)  # fmt: skip
        self.webhook_to_page = Histogram(
            "pronto_webhook_to_page_seconds",
            "From the feedback's arrival to the Twilio API call for its first page.",
            buckets=LATENCY_BUCKETS, registry=r)  # fmt: skip
        self.webhook_to_scored = Histogram(
            "pronto_webhook_to_scored_seconds", "From the feedback's arrival to its scoring.",
            buckets=LATENCY_BUCKETS, registry=r)  # fmt: skip
        self.first_response = Histogram(
            "pronto_time_to_first_response_seconds",
            "From the customer's message to the supervisor's acknowledgement (first response).",
            buckets=HUMAN_BUCKETS, registry=r)  # fmt: skip
        self.time_to_ack = Histogram(
            "pronto_time_to_acknowledge_seconds", "From the first page to its acknowledgement.",
            buckets=HUMAN_BUCKETS, registry=r)  # fmt: skip
        self.time_to_resolve = Histogram(
            "pronto_time_to_resolve_seconds",
            "From the customer's message to resolve: the total handling time.",
            buckets=HUMAN_BUCKETS, registry=r)  # fmt: skip
        self.model_seconds = Histogram(
            "pronto_model_seconds",
            "Sentiment predict+learn time per message.",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
            registry=r,
        )
        self.consumer_lag = Gauge(
            "pronto_consumer_lag_messages", "Messages not yet consumed, per topic.",
            ["reason"], registry=r)  # fmt: skip
        self.ingest_seconds = Histogram(
            "pronto_ingest_request_seconds", "Ingest request time, including Kafka's ack.",
            ["channel"], buckets=LATENCY_BUCKETS, registry=r)  # fmt: skip
