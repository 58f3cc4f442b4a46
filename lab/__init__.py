"""Computations behind the numbered notebooks: one module per notebook, each returning DataFrames/figures.

====================  ==========================================================
module                notebook
====================  ==========================================================
``style``             the fixed matplotlib style every figure uses
``embedded``          cold L2/L3 tiers per run (fakeredis + temp SQLite, or the configured servers)
``quickstart``        01_quickstart and the README's main job (``run_quickstart``)
``hierarchy``         02_cache_hierarchy
``eviction``          03_eviction_tuning
``adaptive``          04_adaptive_prefetch
``resilience``        05_resilience
``fault_scenarios``   05_resilience: every fault kind, real beside simulated (tables in ``fault_table``)
``latency``           06_latency_sla
``streaming``         07_streaming
``deployment``        08_deployment_autoscaling
``sweeps``            09_sweeps
====================  ==========================================================

Notebooks call these functions and show what they return; they hold no logic of their own.
The package sits beside ``supreme`` and ``sim``: it uses both, and the product never imports it
(only the ``supreme`` command line does, for ``demo``, ``report`` and ``trace --plot``).
Every function is seeded and returns the same numbers on every run, except the ones named
``measure_*``         (wall-clock figures), whose callers print only derived, stable facts.
"""
