"""The README is a contract other tools script against: keep it true to the code."""

from pathlib import Path

from studio.cli import build_parser
from studio.compare import TOLERANCES_DOC

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_first_screen_gives_exactly_the_two_commands():
    first_block = README.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["./scripts/studio", "./scripts/test"]


def test_readme_quotes_the_tolerances_the_code_uses():
    table_and_notes = TOLERANCES_DOC.split("\n", 2)[2]
    assert table_and_notes.strip() in README


def test_readme_documents_every_option_of_every_command():
    for name, command in build_parser()._subparsers._group_actions[0].choices.items():
        for action in command._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in README, f"studio {name} {flag}"


def test_the_frozen_app_passes_every_cli_command_to_the_cli():
    from studio import cli, frozen

    assert set(frozen.CLI_COMMANDS) == set(cli.COMMANDS)
