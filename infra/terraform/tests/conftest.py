"""Shared fixtures of the Terraform module tests.

The AWS provider cannot be downloaded here, so `terraform validate` and `plan` of the module
cannot run. Two kinds of tests stand in for them:

- static tests parse the HCL (python-hcl2) and assert on resources, IAM statements, variables
  and validations (test_module.py);
- evaluated tests copy the provider-free part of the module (variables.tf, config.tf) next to
  harness/stub.tf into a scratch directory and run real `terraform` on it, which evaluates every
  validation block and renders the controller config (test_evaluated.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest

MODULE = Path(__file__).resolve().parent.parent
EXAMPLES = MODULE / "examples"
HARNESS = Path(__file__).resolve().parent / "harness"
EXAMPLE_VARS = Path(__file__).resolve().parent / "example.tfvars.json"


def one(value: Any) -> Any:
    """python-hcl2 wraps every attribute value in a one-element list; unwrap it."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


@dataclass
class Module:
    """The parsed blocks of a directory of .tf files, keyed by (type, name) or name."""

    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    def resource(self, type_: str, name: str) -> dict[str, Any]:
        assert (type_, name) in self.resources, f"resource {type_}.{name} is missing"
        return self.resources[(type_, name)]

    def of_type(self, type_: str) -> dict[str, dict[str, Any]]:
        return {name: block for (t, name), block in self.resources.items() if t == type_}


def load(directory: Path) -> Module:
    module = Module()
    for path in sorted(directory.glob("*.tf")):
        text = path.read_text()
        module.files[path.name] = text
        parsed = hcl2.loads(text)
        for entry in parsed.get("resource", []):
            for type_, named in entry.items():
                for name, block in named.items():
                    module.resources[(type_, name)] = block
        for entry in parsed.get("data", []):
            for type_, named in entry.items():
                for name, block in named.items():
                    module.data[(type_, name)] = block
        for entry in parsed.get("variable", []):
            module.variables.update(entry)
        for entry in parsed.get("output", []):
            module.outputs.update(entry)
        for entry in parsed.get("locals", []):
            module.locals.update({k: v for k, v in entry.items() if not k.startswith("__")})
        for entry in parsed.get("module", []):
            module.modules.update(entry)
        module.terraform.extend(parsed.get("terraform", []))
    return module


@pytest.fixture(scope="session")
def module() -> Module:
    return load(MODULE)


@pytest.fixture(scope="session")
def examples() -> dict[str, Module]:
    return {path.name: load(path) for path in sorted(EXAMPLES.iterdir()) if path.is_dir()}


@dataclass
class Harness:
    """variables.tf and config.tf evaluated by terraform alone, in a scratch directory."""

    directory: Path
    env: dict[str, str]

    def run(self, *args: str, var_file: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["terraform", *args, "-no-color", "-input=false", f"-var-file={var_file}"],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def outputs(self, variables: dict[str, Any], scratch: Path) -> dict[str, Any]:
        """The harness outputs (stub.tf) for these inputs."""
        var_file = scratch / "render.tfvars.json"
        var_file.write_text(json.dumps(variables))
        applied = self.run("apply", "-auto-approve", var_file=var_file)
        assert applied.returncode == 0, applied.stderr
        output = subprocess.run(
            ["terraform", "output", "-no-color", "-json"],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return {name: value["value"] for name, value in json.loads(output.stdout).items()}

    def render(self, variables: dict[str, Any], scratch: Path) -> dict[str, Any]:
        """The controller config the module renders for these inputs."""
        return json.loads(self.outputs(variables, scratch)["controller_config_json"])

    def errors(self, variables: dict[str, Any], scratch: Path) -> str:
        """What `terraform plan` reports for these inputs (it must fail)."""
        var_file = scratch / "invalid.tfvars.json"
        var_file.write_text(json.dumps(variables))
        planned = self.run("plan", var_file=var_file)
        assert planned.returncode != 0, f"plan accepted invalid inputs:\n{planned.stdout}"
        # Terraform wraps long messages in its diagnostics; join the lines back up.
        return " ".join(line.strip(" │") for line in planned.stderr.splitlines())


@pytest.fixture(scope="session")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Harness:
    if shutil.which("terraform") is None:
        pytest.fail("terraform is not on PATH (Terraform >= 1.9 is needed for these tests)")
    directory = tmp_path_factory.mktemp("terraform-harness")
    for name in ("variables.tf", "config.tf"):
        shutil.copy(MODULE / name, directory / name)
    shutil.copy(HARNESS / "stub.tf", directory / "stub.tf")
    cli_config = directory / "terraformrc"
    cli_config.write_text("")
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "TF_IN_AUTOMATION": "1",
        # No update check: nothing here may reach the internet.
        "CHECKPOINT_DISABLE": "1",
    }
    init = subprocess.run(
        ["terraform", "init", "-backend=false", "-no-color", "-input=false"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert init.returncode == 0, init.stderr
    return Harness(directory, env)


@pytest.fixture()
def example_vars() -> dict[str, Any]:
    return json.loads(EXAMPLE_VARS.read_text())
