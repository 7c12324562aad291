"""Delivery serves a payload's stored JSON as it is only when the projection would not change it
(``tasks.delivery.projected``): whatever the topic and the body, what a driver parses equals the
projection of the decoded body."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from interop_hub.tasks.delivery import projected
from interop_hub.tasks.projection import Topic

TOPICS = [
    Topic("Student", None),  # every ordinary attribute, no roll-up
    Topic("Student", ("*",)),
    Topic("Student", ("*", "$schools", "$sections")),
    Topic("Student", ("*", "$schools", "$sections", "$students", "$teachers")),
    Topic("Student", ("name", "$schools")),  # only what it lists
    Topic("Student", ("name",)),
]
BODIES: list[dict[str, Any]] = [
    {"$sys": {"id": "s1"}, "name": "Ana"},
    {"$sys": {"id": "s1"}, "name": "Ana", "$schools": [{"id": "o1"}], "$sections": []},
    {"$sys": {"id": "c1"}, "title": "Math", "$students": [{"id": "s1"}], "$teachers": []},
    # a roll-up's name in a value, not as a key: decoded, and still right
    {"$sys": {"id": "s2"}, "name": 'the "$students" list', "note": "Zoë"},
]


def parsed(value: Any) -> Any:
    return orjson.loads(orjson.dumps({"data": value}))["data"]


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: str(t.attributes))
@pytest.mark.parametrize("body", BODIES, ids=lambda b: str(sorted(b)))
def test_what_a_driver_parses_is_the_projection(topic: Topic, body: dict[str, Any]) -> None:
    raw = orjson.dumps(body).decode()
    assert parsed(projected(topic, raw)) == topic.project(body)


def test_the_stored_json_is_served_as_it_is_when_nothing_is_dropped() -> None:
    raw = orjson.dumps(BODIES[1]).decode()
    assert isinstance(projected(TOPICS[2], raw), orjson.Fragment)
    assert not isinstance(projected(TOPICS[0], raw), orjson.Fragment)  # drops the roll-ups
    assert not isinstance(projected(TOPICS[4], raw), orjson.Fragment)  # keeps what it lists


def test_a_missing_topic_or_body() -> None:
    assert projected(None, orjson.dumps(BODIES[0]).decode()) == {"$sys": {"id": "s1"}}
    assert projected(TOPICS[0], None) == {}
