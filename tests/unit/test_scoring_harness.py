"""The scoring benchmark's phase summary and its choice of load-generator client."""
import pytest


def test_a_phase_summary_keeps_the_old_keys_and_adds_the_windows():
    from scripts.bench.scoring_load import Phase
    from scripts.bench.scoring_report import summary
    ph = Phase(rate=10.0, sent=200, duration_s=20.0, duplicates=1, send_errors=0,
               latencies_ms=[1.0] * 100 + [5.0] * 98, send_s=[i / 10 for i in range(198)],
               unanswered_s=[19.8, 19.9])
    s = summary(ph)
    assert {"rate_rps", "p50_ms", "p99_ms", "p999_ms", "answered", "sent", "fallback"} <= set(s)
    assert (s["answered"], s["unanswered"], s["duplicates"]) == (198, 2, 1)
    assert s["p50_by_window_ms"] == [1.0, 5.0] and s["n_by_window"] == [100, 98]
    assert s["unanswered_by_window"] == [0, 2]


def test_the_load_generator_client_is_chosen_and_named():
    from scripts.bench import scoring_clients as C
    try:
        assert C.select(C.KAFKA_PYTHON) == C.KAFKA_PYTHON == C.name()
        with pytest.raises(ValueError):
            C.select("librdkafka-go")
        assert C.select("auto") in (C.CONFLUENT, C.KAFKA_PYTHON)
    finally:
        C.select("auto")
