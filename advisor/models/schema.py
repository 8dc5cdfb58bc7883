"""The JSON Schema of the answers file, with the rule set's data levels and targets as enums."""

from __future__ import annotations

from advisor.models.answers import Answers


def answers_json_schema(rules) -> dict:
    schema = Answers.model_json_schema()
    schema["properties"]["data"]["enum"] = list(rules.data_level_ids)
    schema["properties"]["hardware"]["enum"] = list(rules.targets)
    schema["properties"]["hardware"]["description"] = "Where the model runs: " + " | ".join(rules.targets) + "."
    schema["properties"]["data"]["description"] = "What data you can provide: " + " | ".join(rules.data_level_ids) + "."
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "advisor answers"
    return schema
