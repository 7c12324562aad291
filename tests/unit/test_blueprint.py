import json

import pytest

from interop_hub.integrations.blueprint import (
    CANONICAL_TOPICS,
    MEMBERSHIP_TOPICS,
    ROLLUP_ATTRIBUTES,
    Blueprint,
    BlueprintError,
    TopicSpec,
    canonical_topics,
    parse_blueprint,
)

# Line numbers matter for the error tests: each document starts on line 1 (no leading newline).
FULL = """\
<?xml version="1.0" encoding="UTF-8"?>
<IntegrationBlueprint Name=" acme-lms " Version=" 1.0 " SchemaVersion="1.0">
  <!-- a comment the parser drops -->
  <Integration>
    <Title> Acme LMS </Title>
    <IdSpace>acme</IdSpace>
    <Capabilities>
      <Capability>Rostering</Capability>
      <Capability> Grade Passback </Capability>
      <Capability>  </Capability>
    </Capabilities>
  </Integration>
  <Topics>
    <Topic Name="School"/>
    <Topic Name=" Student ">
      <Roles><Subscriber/></Roles>
      <Attributes>
        <Attribute Name="name"/>
        <Attribute Name=" email "/>
        <Attribute Name="name"/>
        <Attribute Name="$schools"/>
      </Attributes>
    </Topic>
    <Topic Name="CourseSection">
      <Attributes/>
    </Topic>
    <Topic Name="PersonSectionMembership">
      <Roles><Subscriber/><Consumer Support="disabled"/></Roles>
      <Attributes><Attribute Name="role"/></Attributes>
    </Topic>
  </Topics>
</IntegrationBlueprint>
"""


def bp(topics: str) -> str:
    """A blueprint whose `topics` start on line 3."""
    head = '<IntegrationBlueprint Version="1">\n<Topics>\n'
    return head + f"{topics}\n</Topics>\n</IntegrationBlueprint>"


def refused(document: bytes | str) -> BlueprintError:
    with pytest.raises(BlueprintError) as info:
        parse_blueprint(document)
    return info.value


def test_full_blueprint() -> None:
    blueprint = parse_blueprint(FULL)
    assert blueprint.name == "acme-lms"
    assert blueprint.version == "1.0"
    assert blueprint.schema_version == "1.0"
    assert blueprint.title == "Acme LMS"
    assert blueprint.id_space == "acme"
    assert blueprint.capabilities == ("Rostering", "Grade Passback")
    assert list(blueprint.topics) == [
        "School",
        "Student",
        "Section",
        "StudentSectionEnrollment",
        "TeacherSectionEnrollment",
    ]
    assert blueprint.topics["School"] == TopicSpec(
        name="School",
        declared_name="School",
        attributes=None,
        subscriber=True,
        consumer_disabled=False,
        line=14,
    )
    student = blueprint.topics["Student"]
    assert student.declared_name == "Student"
    assert student.attributes == ("name", "email", "$schools")
    assert student.subscriber is True
    assert student.line == 15
    assert blueprint.topics["Section"].declared_name == "CourseSection"
    assert blueprint.topics["Section"].attributes == ()
    for name in ("StudentSectionEnrollment", "TeacherSectionEnrollment"):
        spec = blueprint.topics[name]
        assert spec.declared_name == "PersonSectionMembership"
        assert spec.attributes == ("role",)
        assert spec.consumer_disabled is True
        assert spec.subscriber is True
        assert spec.line == 27


def test_bytes_input() -> None:
    assert parse_blueprint(FULL.encode()) == parse_blueprint(FULL)


def test_constants() -> None:
    assert len(CANONICAL_TOPICS) == 14
    assert set(ROLLUP_ATTRIBUTES) == {"$schools", "$sections", "$students", "$teachers"}
    assert set(MEMBERSHIP_TOPICS) == {
        "StudentSchoolEnrollment",
        "TeacherSchoolEnrollment",
        "StudentSectionEnrollment",
        "TeacherSectionEnrollment",
    }


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("CourseSection", ("Section",)),
        ("StudentCourseSectionEnrollment", ("StudentSectionEnrollment",)),
        ("StaffCourseSectionEnrollment", ("TeacherSectionEnrollment",)),
        ("StaffSchoolEnrollment", ("TeacherSchoolEnrollment",)),
        ("Staff", ("Staff",)),
        ("PersonOrgMembership", ("StudentSchoolEnrollment", "TeacherSchoolEnrollment")),
        ("PersonSectionMembership", ("StudentSectionEnrollment", "TeacherSectionEnrollment")),
    ],
)
def test_aliases(declared: str, expected: tuple[str, ...]) -> None:
    assert canonical_topics(declared) == expected
    assert canonical_topics(f"  {declared}\n") == expected
    blueprint = parse_blueprint(bp(f'<Topic Name="{declared}"/>'))
    assert tuple(blueprint.topics) == expected
    assert all(t.declared_name == declared for t in blueprint.topics.values())


def test_every_canonical_name_maps_to_itself() -> None:
    for name in CANONICAL_TOPICS:
        assert canonical_topics(name) == (name,)


def test_names_are_case_sensitive() -> None:
    assert canonical_topics("student") == ()
    assert canonical_topics("Stuent") == ()
    assert canonical_topics("coursesection") == ()


def test_umbrella_expansion_copies_roles_and_attributes() -> None:
    blueprint = parse_blueprint(
        bp(
            '<Topic Name="PersonOrgMembership"><Roles><Consumer Support="disabled"/></Roles>'
            '<Attributes><Attribute Name="role"/><Attribute Name="$students"/></Attributes>'
            "</Topic>"
        )
    )
    student, teacher = (
        blueprint.topics["StudentSchoolEnrollment"],
        blueprint.topics["TeacherSchoolEnrollment"],
    )
    for spec in (student, teacher):
        assert spec.declared_name == "PersonOrgMembership"
        assert spec.attributes == ("role", "$students")
        assert spec.consumer_disabled is True
        assert spec.subscriber is False  # a <Roles> without <Subscriber/>
        assert spec.line == 3


def test_attributes_none_vs_listed_vs_empty() -> None:
    blueprint = parse_blueprint(
        bp(
            '<Topic Name="School"/>\n'
            '<Topic Name="Student"><Attributes><Attribute Name="name"/></Attributes></Topic>\n'
            '<Topic Name="Teacher"><Attributes></Attributes></Topic>'
        )
    )
    assert blueprint.topics["School"].attributes is None
    assert blueprint.topics["Student"].attributes == ("name",)
    assert blueprint.topics["Teacher"].attributes == ()


def test_rollups_kept_only_when_listed() -> None:
    blueprint = parse_blueprint(
        bp(
            '<Topic Name="Section"><Attributes><Attribute Name="name"/>'
            '<Attribute Name="$students"/><Attribute Name="$teachers"/></Attributes></Topic>\n'
            '<Topic Name="School"><Attributes><Attribute Name="name"/></Attributes></Topic>\n'
            '<Topic Name="Student"/>'
        )
    )
    section = blueprint.topics["Section"].attributes
    assert section is not None
    assert {a for a in section if a in ROLLUP_ATTRIBUTES} == {"$students", "$teachers"}
    assert blueprint.topics["School"].attributes == ("name",)
    # No <Attributes>: all ordinary attributes and no roll-ups, recorded as None.
    assert blueprint.topics["Student"].attributes is None


def test_roles() -> None:
    blueprint = parse_blueprint(
        bp(
            '<Topic Name="StudentSectionEnrollment"><Roles><Subscriber/>'
            '<Consumer Support="disabled"/></Roles></Topic>\n'
            '<Topic Name="TeacherSectionEnrollment"><Roles><Subscriber/>'
            '<Consumer Support=" enabled "/></Roles></Topic>\n'
            '<Topic Name="Student"><Roles><Subscriber Support="disabled"/></Roles></Topic>\n'
            '<Topic Name="School"/>'
        )
    )
    assert blueprint.topics["StudentSectionEnrollment"].consumer_disabled is True
    assert blueprint.topics["StudentSectionEnrollment"].subscriber is True
    assert blueprint.topics["TeacherSectionEnrollment"].consumer_disabled is False
    assert blueprint.topics["Student"].subscriber is False
    assert blueprint.topics["School"].subscriber is True
    assert blueprint.topics["School"].consumer_disabled is False


def test_minimal_blueprint() -> None:
    blueprint = parse_blueprint('<IntegrationBlueprint Version="2"/>')
    assert blueprint == Blueprint(
        name=None,
        version="2",
        schema_version=None,
        title=None,
        id_space=None,
        capabilities=(),
        topics={},
    )


def test_capabilities_as_text() -> None:
    blueprint = parse_blueprint(
        '<IntegrationBlueprint Version="1"><Integration>'
        "<Capabilities>\n  Rostering,\n  Single Sign-On\n</Capabilities>"
        "</Integration></IntegrationBlueprint>"
    )
    assert blueprint.capabilities == ("Rostering", "Single Sign-On")


def test_str_with_encoding_declaration() -> None:
    document = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        '<IntegrationBlueprint Version="1"><Integration><Title>Café</Title></Integration>'
        "</IntegrationBlueprint>"
    )
    assert parse_blueprint(document).title == "Café"
    # The same document as real Latin-1 bytes honours the declaration.
    assert parse_blueprint(document.encode("latin-1")).title == "Café"


def test_json_round_trip() -> None:
    blueprint = parse_blueprint(FULL)
    data = blueprint.to_json()
    restored = Blueprint.from_json(json.loads(json.dumps(data)))
    assert restored == blueprint
    assert list(restored.topics) == list(blueprint.topics)
    assert isinstance(data["capabilities"], list)
    assert isinstance(data["topics"], list)
    assert data["topics"][1]["attributes"] == ["name", "email", "$schools"]
    assert data["topics"][0]["attributes"] is None


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("document", ["", "   \n\t", b"", b"  \n"])
def test_empty(document: bytes | str) -> None:
    error = refused(document)
    assert error.line is None
    assert error.message == "the blueprint is empty"
    assert str(error) == error.message


def test_not_well_formed() -> None:
    error = refused(
        '<IntegrationBlueprint Version="1">\n<Topics>\n<Topic Name="School">\n</Topics>'
    )
    assert error.line == 4
    assert error.message.startswith("line 4: the blueprint is not well-formed XML")
    assert str(error) == error.message
    assert isinstance(error, ValueError)


def test_wrong_root() -> None:
    error = refused('<?xml version="1.0"?>\n\n<Blueprint Version="1"/>')
    assert error.line == 3
    assert "IntegrationBlueprint" in error.message


@pytest.mark.parametrize("attrs", ['Name="x"', 'Name="x" Version="  "'])
def test_missing_version(attrs: str) -> None:
    error = refused(f"\n<IntegrationBlueprint {attrs}>\n</IntegrationBlueprint>")
    assert error.line == 2
    assert error.message == "line 2: <IntegrationBlueprint> has no Version"


def test_unknown_topic() -> None:
    error = refused(bp('<Topic Name="School"/>\n<Topic Name="Stuent"/>'))
    assert error.line == 4
    assert error.message.startswith("line 4: unknown topic 'Stuent'; known topics: LEA, School")
    assert "CourseSection" in error.message


def test_unknown_topic_wrong_case() -> None:
    assert refused(bp('<Topic Name="student"/>')).line == 3


def test_duplicate_topic() -> None:
    error = refused(bp('<Topic Name="Section"/>\n\n<Topic Name="CourseSection"/>'))
    assert error.line == 5
    assert "'Section' is declared twice" in error.message
    assert "line 3" in error.message


def test_duplicate_via_umbrella() -> None:
    error = refused(
        bp('<Topic Name="TeacherSchoolEnrollment"/>\n<Topic Name="PersonOrgMembership"/>')
    )
    assert error.line == 4
    assert "TeacherSchoolEnrollment" in error.message


@pytest.mark.parametrize("topic", ["<Topic/>", '<Topic Name=" "/>'])
def test_topic_without_name(topic: str) -> None:
    error = refused(bp(f'<Topic Name="School"/>\n{topic}'))
    assert error.line == 4
    assert error.message == "line 4: <Topic> has no Name"


def test_attribute_without_name() -> None:
    topic = '<Topic Name="School">\n<Attributes>\n<Attribute Name="a"/>\n<Attribute/>\n'
    error = refused(bp(topic + "</Attributes></Topic>"))
    assert error.line == 6
    assert error.message == "line 6: <Attribute> has no Name"


def test_bad_support_value() -> None:
    error = refused(
        bp('<Topic Name="Student">\n<Roles>\n<Consumer Support="off"/></Roles></Topic>')
    )
    assert error.line == 5
    assert "'off'" in error.message


BILLION_LAUGHS = """\
<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<IntegrationBlueprint Version="1"><Integration><Title>&lol3;</Title></Integration>
</IntegrationBlueprint>
"""

EXTERNAL_ENTITY = """\
<?xml version="1.0"?>
<!DOCTYPE IntegrationBlueprint [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<IntegrationBlueprint Version="1"><Integration><Title>&xxe;</Title></Integration>
</IntegrationBlueprint>
"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_doctype_refused(document: str) -> None:
    for variant in (document, document.encode()):
        error = refused(variant)
        assert error.line == 2
        assert "DOCTYPE" in error.message


def test_bare_doctype_refused() -> None:
    assert refused('<!DOCTYPE IntegrationBlueprint>\n<IntegrationBlueprint Version="1"/>').line == 1


def test_doctype_refused_in_utf16() -> None:
    # The byte scan cannot see UTF-16 markup; the post-parse check still refuses it.
    error = refused(
        EXTERNAL_ENTITY.replace('"1.0"?>', '"1.0" encoding="UTF-16"?>').encode("utf-16")
    )
    assert "DOCTYPE" in error.message


def test_undeclared_entity_is_not_well_formed() -> None:
    error = refused('<IntegrationBlueprint Version="1">\n<Integration><Title>&xxe;</Title>')
    assert error.line == 2
