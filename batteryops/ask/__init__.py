"""Ask the fleet in plain language: read-only tools, a deterministic router, a grounded answer.

A question is answered by exactly one of a fixed set of read-only tools over the live service's
store and the registry (:mod:`batteryops.ask.tools`). The tool is chosen by the deterministic
router (:mod:`batteryops.ask.router`) or by a language model behind an OpenAI-compatible endpoint
(:mod:`batteryops.ask.language_model`), whose output is constrained to the tools' names; the
arguments (module ids, counts, windows, thresholds) are always parsed and checked by code
(:mod:`batteryops.ask.parse`) against the fleet's real ids. The answer is the tool's templated
summary, or the model's wording of the tool's result if every number in it is found there
(:mod:`batteryops.ask.grounding`). :class:`batteryops.ask.asker.Asker` puts it together.
"""
