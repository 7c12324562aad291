"""Parse Integration Blueprints: the XML a vendor uploads to describe one version of an integration.

The blueprint is the contract for what an installed integration may see: only the topics it lists
produce events, only the attributes it lists appear in event data, and roll-up attributes
(``$schools`` and friends) are sent only when asked for.  Because it decides what data leaves the
hub, a blueprint that is ambiguous is refused outright (with the offending line) rather than
guessed at.

Blueprints come from outside, so parsing is defensive: any DOCTYPE is refused (no entity
expansion, no external entities, no network), and lxml runs with ``huge_tree`` off.

Real blueprints spell some topics differently from our canonical names; those spellings are
mapped here so that everything downstream only ever sees canonical topic names.  The parsed form
round-trips through JSON (``to_json``/``from_json``) so it can be stored next to the raw XML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

CANONICAL_TOPICS: tuple[str, ...] = (
    "LEA",
    "School",
    "Student",
    "Teacher",
    # Some blueprints use Staff for teachers; whoever consumes the parsed blueprint decides that.
    "Staff",
    "Contact",
    "Term",
    "Course",
    "Section",
    "GradingCategory",
    "StudentSchoolEnrollment",
    "TeacherSchoolEnrollment",
    "StudentSectionEnrollment",
    "TeacherSectionEnrollment",
)
ROLLUP_ATTRIBUTES: frozenset[str] = frozenset({"$schools", "$sections", "$students", "$teachers"})
MEMBERSHIP_TOPICS: frozenset[str] = frozenset(
    t for t in CANONICAL_TOPICS if t.endswith("Enrollment")
)

# Other spellings found in real blueprints.  The two umbrella membership topics stand for both the
# student and the teacher variant, and each resulting topic gets the declared roles/attributes.
_ALIASES: dict[str, tuple[str, ...]] = {
    "CourseSection": ("Section",),
    "StudentCourseSectionEnrollment": ("StudentSectionEnrollment",),
    "StaffCourseSectionEnrollment": ("TeacherSectionEnrollment",),
    "StaffSchoolEnrollment": ("TeacherSchoolEnrollment",),
    "PersonOrgMembership": ("StudentSchoolEnrollment", "TeacherSchoolEnrollment"),
    "PersonSectionMembership": ("StudentSectionEnrollment", "TeacherSectionEnrollment"),
}
_KNOWN_NAMES = ", ".join((*CANONICAL_TOPICS, *_ALIASES))
_SUPPORT_VALUES = ("enabled", "disabled")
AUTH_TYPES: tuple[str, ...] = ("oauth2", "basic", "api_key", "none")
"""What ``<Integration><Authentication Type=...>`` may declare: how the tenant's application is
authenticated (DESIGN §3.7); a blueprint without the element declares nothing."""


class BlueprintError(ValueError):
    """A refused blueprint.  When ``line`` is known the message starts with ``line N:``."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        self.message = message if line is None else f"line {line}: {message}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def canonical_topics(name: str) -> tuple[str, ...]:
    """The canonical topic(s) a declared topic name stands for; ``()`` when unknown."""
    name = name.strip()
    if name in CANONICAL_TOPICS:
        return (name,)
    return _ALIASES.get(name, ())


@dataclass(frozen=True)
class TopicSpec:
    name: str
    declared_name: str
    attributes: tuple[str, ...] | None  # None: every ordinary attribute, no roll-ups
    subscriber: bool
    consumer_disabled: bool
    line: int


@dataclass(frozen=True)
class AuthProperty:
    name: str
    secret: bool
    """A secret is shown masked wherever the spec does not hand it to the driver."""


@dataclass(frozen=True)
class AuthSpec:
    """``<Authentication Type>`` with its ``<Property Name Secret="true|false"/>`` children: the
    credentials a district enters for the tenant's application."""

    type: str
    properties: tuple[AuthProperty, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "properties": [{"name": p.name, "secret": p.secret} for p in self.properties],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuthSpec:
        return cls(
            type=data["type"],
            properties=tuple(
                AuthProperty(p["name"], bool(p["secret"])) for p in data["properties"]
            ),
        )


@dataclass(frozen=True)
class Blueprint:
    name: str | None
    version: str
    schema_version: str | None
    title: str | None
    id_space: str | None
    capabilities: tuple[str, ...]
    topics: dict[str, TopicSpec]
    auth: AuthSpec | None = None

    def to_json(self) -> dict[str, Any]:
        # Topics are a list, not an object: JSON stores (e.g. PostgreSQL jsonb) may reorder keys.
        return {
            "name": self.name,
            "version": self.version,
            "schema_version": self.schema_version,
            "title": self.title,
            "id_space": self.id_space,
            "capabilities": list(self.capabilities),
            "topics": [
                {
                    "name": t.name,
                    "declared_name": t.declared_name,
                    "attributes": None if t.attributes is None else list(t.attributes),
                    "subscriber": t.subscriber,
                    "consumer_disabled": t.consumer_disabled,
                    "line": t.line,
                }
                for t in self.topics.values()
            ],
            "auth": None if self.auth is None else self.auth.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Blueprint:
        topics = [
            TopicSpec(
                name=t["name"],
                declared_name=t["declared_name"],
                attributes=None if t["attributes"] is None else tuple(t["attributes"]),
                subscriber=bool(t["subscriber"]),
                consumer_disabled=bool(t["consumer_disabled"]),
                line=int(t["line"]),
            )
            for t in data["topics"]
        ]
        return cls(
            name=data["name"],
            version=data["version"],
            schema_version=data["schema_version"],
            title=data["title"],
            id_space=data["id_space"],
            capabilities=tuple(data["capabilities"]),
            topics={t.name: t for t in topics},
            # Blueprints stored before authentication was parsed have no "auth".
            auth=AuthSpec.from_json(data["auth"]) if data.get("auth") else None,
        )


def _children(element: etree._Element, local_name: str) -> list[etree._Element]:
    # Matching on the local name tolerates a default namespace; comments/PIs have non-str tags.
    return [
        child
        for child in element
        if isinstance(child.tag, str) and etree.QName(child).localname == local_name
    ]


def _line(element: etree._Element) -> int | None:
    line: Any = getattr(element, "sourceline", None)  # lxml-stubs leave sourceline untyped
    return line if isinstance(line, int) else None


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    return "".join(t for t in element.itertext() if isinstance(t, str)).strip() or None


def _attr(element: etree._Element, name: str) -> str | None:
    value = element.get(name)
    if value is None:
        return None
    return value.strip() or None


def _parse_xml(document: bytes | str) -> etree._Element:
    options: dict[str, Any] = {}
    if isinstance(document, str):
        # lxml refuses str with an encoding declaration, so parse the UTF-8 bytes and make the
        # parser ignore whatever encoding the declaration claims.
        document, options = document.encode("utf-8"), {"encoding": "utf-8"}
    if not document.strip():
        raise BlueprintError("the blueprint is empty")
    found = re.search(rb"<!(DOCTYPE|ENTITY)", document)
    if found:
        line = document.count(b"\n", 0, found.start()) + 1
        raise BlueprintError("DOCTYPE and entity declarations are not allowed in a blueprint", line)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        **options,
    )
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as exc:
        raise BlueprintError(
            f"the blueprint is not well-formed XML: {exc.msg}", exc.lineno
        ) from exc
    doctype: Any = getattr(root.getroottree().docinfo, "doctype", "")
    if doctype:  # e.g. UTF-16 input, which the byte scan above cannot read; line unknown
        raise BlueprintError("DOCTYPE declarations are not allowed in a blueprint")
    return root


def _parse_topic(topic: etree._Element) -> tuple[str, tuple[str, ...] | None, bool, bool, int]:
    line = _line(topic) or 0
    declared = _attr(topic, "Name")
    if declared is None:
        raise BlueprintError("<Topic> has no Name", line)
    if not canonical_topics(declared):
        raise BlueprintError(f"unknown topic {declared!r}; known topics: {_KNOWN_NAMES}", line)
    roles = _children(topic, "Roles")
    subscriber = not roles
    consumer_disabled = False
    for role in (r for group in roles for r in group if isinstance(r.tag, str)):
        support = _attr(role, "Support") or "enabled"
        if support not in _SUPPORT_VALUES:
            raise BlueprintError(
                f"Support must be 'enabled' or 'disabled', not {support!r}", _line(role)
            )
        kind = etree.QName(role).localname
        subscriber = subscriber or (kind == "Subscriber" and support == "enabled")
        consumer_disabled = consumer_disabled or (kind == "Consumer" and support == "disabled")
    attributes: tuple[str, ...] | None = None
    if groups := _children(topic, "Attributes"):
        names: dict[str, None] = {}  # ordered de-duplication
        for attribute in (a for group in groups for a in _children(group, "Attribute")):
            if (attr_name := _attr(attribute, "Name")) is None:
                raise BlueprintError("<Attribute> has no Name", _line(attribute))
            names.setdefault(attr_name)
        attributes = tuple(names)
    return declared, attributes, subscriber, consumer_disabled, line


def _parse_auth(integration: etree._Element) -> AuthSpec | None:
    found = _children(integration, "Authentication")
    if not found:
        return None
    if len(found) > 1:
        raise BlueprintError("<Authentication> is declared twice", _line(found[1]))
    element = found[0]
    kind = _attr(element, "Type")
    if kind not in AUTH_TYPES:
        raise BlueprintError(
            f"<Authentication> Type must be one of {', '.join(AUTH_TYPES)}, not {kind!r}",
            _line(element),
        )
    properties: dict[str, AuthProperty] = {}
    for prop in _children(element, "Property"):
        name = _attr(prop, "Name")
        if name is None:
            raise BlueprintError("<Property> has no Name", _line(prop))
        if name in properties:
            raise BlueprintError(f"property {name!r} is declared twice", _line(prop))
        flag = (_attr(prop, "Secret") or "false").lower()
        if flag not in ("true", "false"):
            raise BlueprintError(f"Secret must be 'true' or 'false', not {flag!r}", _line(prop))
        properties[name] = AuthProperty(name, secret=flag == "true")
    return AuthSpec(kind, tuple(properties.values()))


def parse_blueprint(document: bytes | str) -> Blueprint:
    """Parse and validate a blueprint; raises :class:`BlueprintError` naming the offending line."""
    root = _parse_xml(document)
    if etree.QName(root).localname != "IntegrationBlueprint":
        raise BlueprintError(
            f"the root element must be <IntegrationBlueprint>, not <{etree.QName(root).localname}>",
            _line(root),
        )
    version = _attr(root, "Version")
    if version is None:
        raise BlueprintError("<IntegrationBlueprint> has no Version", _line(root))
    integration = next(iter(_children(root, "Integration")), None)
    title = id_space = None
    capabilities: list[str] = []
    auth = None
    if integration is not None:
        auth = _parse_auth(integration)
        title = _text(next(iter(_children(integration, "Title")), None))
        id_space = _text(next(iter(_children(integration, "IdSpace")), None))
        for group in _children(integration, "Capabilities"):
            items = [c for c in group if isinstance(c.tag, str)]
            texts = [_text(c) or "" for c in items] or re.split(r"[,;\n]", group.text or "")
            capabilities.extend(t.strip() for t in texts if t.strip())
    topics: dict[str, TopicSpec] = {}
    for topic in (t for group in _children(root, "Topics") for t in _children(group, "Topic")):
        declared, attributes, subscriber, consumer_disabled, line = _parse_topic(topic)
        for name in canonical_topics(declared):
            if name in topics:
                first = topics[name]
                raise BlueprintError(
                    f"topic {name!r} is declared twice (as {declared!r}; first as "
                    f"{first.declared_name!r} on line {first.line})",
                    line,
                )
            topics[name] = TopicSpec(
                name, declared, attributes, subscriber, consumer_disabled, line
            )
    return Blueprint(
        name=_attr(root, "Name"),
        version=version,
        schema_version=_attr(root, "SchemaVersion"),
        title=title,
        id_space=id_space,
        capabilities=tuple(capabilities),
        topics=topics,
        auth=auth,
    )
