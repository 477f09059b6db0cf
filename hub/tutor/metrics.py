"""Prometheus metrics of the AI tutor (hub and tutor worker)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

QUESTIONS = Counter(
    "dreamseed_tutor_questions_total", "Tutor questions by how they were received", ["result"]
)
OUTCOMES = Counter("dreamseed_tutor_answers_total", "Tutor answers by outcome", ["outcome"])
TTFT = Histogram(
    "dreamseed_tutor_time_to_first_token_seconds",
    "From the request to the model server to its first token",
    ["model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30),
)
TPOT = Histogram(
    "dreamseed_tutor_time_per_output_token_seconds",
    "Generation time after the first token, per further output token",
    ["model"],
    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5),
)
FILTERED = Counter(
    "dreamseed_tutor_filtered_total", "Answers stopped by the output filter", ["reason"]
)
REFUSED = Counter("dreamseed_tutor_refused_total", "Questions refused", ["reason"])
FALLBACKS = Counter(
    "dreamseed_tutor_fallbacks_total", "Answers served by another model", ["from_model"]
)
MODEL_ERRORS = Counter(
    "dreamseed_tutor_model_errors_total", "Model server failures by kind", ["kind"]
)
