"""Names an admin loads: the CSV format, clear errors, replacing on reload, both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from caliper_stream.analyse.names import (
    NamesFileError,
    load_names,
    parse_names,
    read_names,
    store_names,
    write_names,
)
from caliper_stream.cli import names
from caliper_stream.store import open_store

app = typer.Typer()
names.register(app)
runner = CliRunner()

CSV = """Kind,External_Key,PK1,UUID,Course,Name,Points_Possible,User_ID,FirstName,LastName,Email,Extra
course,BIO-101,_7_1,,,Introduction to Biology,,,,,,ignored
item,,_55_1,,BIO-101,Lab report 1,25,,,,,
item,,_56_1,,BIO-101,Quiz 1,,,,,,
user,s0123456,_812_1,1a26d8c5b4d44f1db491db1f24407715,,,,sjones,Sam,Jones,sjones@example.edu,
user,t.smith,,,,,,tsmith,Terry,Smith,,
"""


def test_the_csv_reads_every_kind_with_any_header_case() -> None:
    got = parse_names(CSV)
    assert [(c.course_number, c.name, c.course_pk) for c in got.courses] == [("BIO-101", "Introduction to Biology", "_7_1")]
    assert [(i.item_pk, i.name, i.course_number, i.max_score) for i in got.items] == [
        ("_55_1", "Lab report 1", "BIO-101", 25.0), ("_56_1", "Quiz 1", "BIO-101", None),
    ]
    sam, terry = got.users
    assert (sam.key, sam.given_name, sam.family_name, sam.email, sam.username) == (
        "1a26d8c5b4d44f1db491db1f24407715", "Sam", "Jones", "sjones@example.edu", "sjones",
    )
    assert terry.key == "t.smith"


def test_a_written_file_reads_back(tmp_path: Path) -> None:
    original = parse_names(CSV)
    write_names(tmp_path / "names.csv", original)
    assert read_names(tmp_path / "names.csv") == original


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("name\nx\n", "no 'kind' column"),
        ("kind,name\nstudent,x\n", "names.csv:2: kind must be course, item or user"),
        ("kind,name\ncourse,Biology\n", "names.csv:2: a course needs external_key"),
        ("kind,pk1,name,points_possible\nitem,_1_1,Quiz,ten\n", "names.csv:2: points_possible 'ten' is not a number"),
        ("kind,firstname\nuser,Sam\n", "names.csv:2: a user needs uuid, pk1 or external_key"),
    ],
)
def test_bad_files_are_refused_with_the_line_and_nothing_is_loaded(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "names.csv"
    path.write_text(text)
    with pytest.raises(NamesFileError, match=message):
        read_names(path)
    url = f"sqlite:///{tmp_path / 'events.db'}"
    result = runner.invoke(app, ["names", "load", str(path), "--db", url])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    with open_store(url) as store:
        assert load_names(store).courses == {}


def test_loading_stores_and_replaces_names(store_url: str, tmp_path: Path) -> None:
    path = tmp_path / "names.csv"
    path.write_text(CSV)
    result = runner.invoke(app, ["names", "load", str(path), "--db", store_url])
    assert result.exit_code == 0, result.output
    with open_store(store_url) as store:
        loaded = load_names(store)
        assert loaded.courses == {"BIO-101": "Introduction to Biology"}
        assert loaded.items["_55_1"].max_score == 25.0
        # any of a user's ids finds the name
        assert loaded.user_name("1a26d8c5b4d44f1db491db1f24407715", None, None) == "Sam Jones"
        assert loaded.user_name(None, "_812_1", None) == "Sam Jones"
        assert loaded.user_name(None, None, "t.smith") == "Terry Smith"
        assert loaded.user_name("unknown", None, None) is None
        store_names(store, parse_names("kind,external_key,name\ncourse,BIO-101,Biology I\n"))
        assert load_names(store).courses == {"BIO-101": "Biology I"}
