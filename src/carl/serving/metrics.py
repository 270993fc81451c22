"""Prometheus metrics of one app (own registry, so several apps in one process, e.g. tests, do not clash)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
TOKEN_BUCKETS = (16, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("carl_http_requests", "HTTP requests by route, method and status code",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("carl_http_request_duration_seconds", "Request latency by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.texts = Counter("carl_texts", "Texts embedded, by route", ["route"], registry=r)
        self.tokens = Counter("carl_tokens", "Tokens embedded (after truncation)", registry=r)
        self.truncated = Counter("carl_truncated_texts", "Texts cut to the model's maximum length", registry=r)
        self.rejected = Counter("carl_rejected_requests", "Requests refused before any work", ["reason"], registry=r)
        self.queue_depth = Gauge("carl_queue_depth", "Requests waiting for a forward pass", registry=r)
        self.queue_tokens = Gauge("carl_queue_tokens", "Tokens of request parts waiting for a forward pass", registry=r)
        self.dropped = Counter("carl_dropped_parts", "Request parts dropped before their forward pass: the client "
                                                     "went away (cancelled), deadline passed (timeout), or the "
                                                     "request failed", ["reason"], registry=r)
        self.queue_wait = Histogram("carl_queue_wait_seconds", "Time a request waited for its forward pass",
                                    buckets=LATENCY_BUCKETS, registry=r)
        self.batch_texts = Histogram("carl_batch_texts", "Texts per gathered batch", buckets=SIZE_BUCKETS, registry=r)
        self.batch_tokens = Histogram("carl_batch_padded_tokens", "Padded tokens (texts x longest) per gathered batch",
                                      buckets=TOKEN_BUCKETS, registry=r)
        self.forward_seconds = Histogram("carl_forward_duration_seconds", "Model time per gathered batch",
                                         buckets=LATENCY_BUCKETS, registry=r)
