"""The synthesized CDK template deploys into LocalStack, and what it deploys works.

The template is `infra/cdk/test/localstack/app.ts`: the Floodgate construct with one circuit
whose mapping, consumer, queue and controller code are CloudFormation parameters, built for
x86_64 (LocalStack's host executor runs only this machine's architecture). The test creates
the circuit's prerequisites (a source queue, a consumer function, its role and an event source
mapping), uploads the real controller package (scripts/build-controller --arch x86_64) to S3,
creates the stack with CloudFormation, checks every resource through the AWS APIs, and then
drives the deployed controller: a tick through the alias, and an alarm whose action invokes it.

Every resource of the template deploys (CREATE_COMPLETE). What LocalStack 2026.3 does not do,
and so is checked statically instead (jest `Template.fromStack` tests, cfn-lint, checkov):
- it stores IAM, key and queue policies without enforcing them;
- its CloudFormation handlers drop some properties: KmsKeyArn and ReservedConcurrentExecutions
  of AWS::Lambda::Function, and SourceAccount of AWS::Lambda::Permission (the SourceArn
  condition is kept and checked here);
- it stores schedules without running their targets, so the tick is sent here by invoking the
  alias the schedule targets;
- its SetAlarmState fails (InternalError, KeyError 'Namespace') when a metric-math alarm (the
  errors alarm) has a Lambda action, so the alarm-action path is driven here with the
  throttles alarm, a plain metric alarm wired the same way.

Needs LocalStack on AWS_ENDPOINT_URL (default http://127.0.0.1:4566): `scripts/local-aws up`.
Environment: FLOODGATE_LOCALSTACK_TEMPLATE (a synthesized template; synthesized here when
unset) and FLOODGATE_CONTROLLER_ZIP (the x86_64 package; built here when unset).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "infra" / "cdk"
ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
REGION = "us-east-1"
ACCOUNT = "000000000000"
STACK_TIMEOUT_S = 180


def client(service: str) -> Any:
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    made = session.client(
        service,
        endpoint_url=ENDPOINT,
        config=botocore.config.Config(retries={"max_attempts": 2}, read_timeout=120),
    )
    if service == "s3":
        made.meta.events.register("before-send.s3.*", drop_expect_header)
    return made


def drop_expect_header(request: Any, **_: Any) -> None:
    """LocalStack's hypercorn gateway drops the connection after answering a request that
    carries `Expect: 100-continue`, which botocore sends with every upload. (A before-send
    handler must return None, or its value replaces the response.)"""
    request.headers.pop("Expect", None)


def controller_zip() -> Path:
    given = os.environ.get("FLOODGATE_CONTROLLER_ZIP")
    if given:
        return Path(given)
    built = subprocess.run(
        [str(ROOT / "scripts" / "build-controller"), "--arch", "x86_64"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(built.stdout.strip())


@pytest.fixture(scope="module")
def template() -> str:
    given = os.environ.get("FLOODGATE_LOCALSTACK_TEMPLATE")
    if given:
        return Path(given).read_text()
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            ["npx", "ts-node", "--transpile-only", "test/localstack/app.ts", scratch],
            cwd=CDK,
            capture_output=True,
            check=True,
        )
        return (Path(scratch) / "FloodgateLocalStack.template.json").read_text()


def consumer_zip() -> bytes:
    """A consumer that is never invoked (its queue stays empty): a `bootstrap` that exits."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        entry = zipfile.ZipInfo("bootstrap")
        entry.external_attr = 0o100755 << 16
        archive.writestr(entry, "#!/bin/sh\nexit 1\n")
    return buffer.getvalue()


@dataclass
class Deployment:
    run: str
    outputs: dict[str, str]
    mapping_uuid: str
    source_queue_url: str
    source_queue_arn: str
    consumer_role_arn: str


def wait_for(describe: Any, done: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = describe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: still {value!r} after {timeout_s} s")
        time.sleep(0.5)


def stack_failures(cfn: Any, run: str) -> str:
    events = cfn.describe_stack_events(StackName=run)["StackEvents"]
    return "\n".join(f"{e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason')}" for e in events if "FAILED" in e["ResourceStatus"])


@pytest.fixture(scope="module")
def deployment(template: str) -> Iterator[Deployment]:
    try:
        client("sts").get_caller_identity()
    except Exception as error:
        pytest.fail(f"LocalStack is not answering on {ENDPOINT} ({error}); start it with scripts/local-aws up")

    run = f"fg-deploy-{uuid.uuid4().hex[:8]}"
    s3, sqs, iam, lam, cfn = (client(s) for s in ("s3", "sqs", "iam", "lambda", "cloudformation"))
    cleanup: list[Any] = []
    try:
        s3.create_bucket(Bucket=run)
        cleanup.append(lambda: delete_bucket(s3, run))
        s3.put_object(Bucket=run, Key="controller.zip", Body=controller_zip().read_bytes())

        queue_url = sqs.create_queue(QueueName=f"{run}-orders")["QueueUrl"]
        cleanup.append(lambda: sqs.delete_queue(QueueUrl=queue_url))
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        role_arn = iam.create_role(RoleName=f"{run}-consumer", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        cleanup.append(lambda: iam.delete_role(RoleName=f"{run}-consumer"))
        lam.create_function(
            FunctionName=f"{run}-consumer",
            Runtime="provided.al2023",
            Handler="bootstrap",
            Role=role_arn,
            Code={"ZipFile": consumer_zip()},
            Architectures=["x86_64"],
        )
        cleanup.append(lambda: lam.delete_function(FunctionName=f"{run}-consumer"))
        mapping = lam.create_event_source_mapping(
            EventSourceArn=queue_arn,
            FunctionName=f"{run}-consumer",
            BatchSize=10,
            ScalingConfig={"MaximumConcurrency": 10},
        )["UUID"]
        cleanup.append(lambda: lam.delete_event_source_mapping(UUID=mapping))
        wait_for(lambda: lam.get_event_source_mapping(UUID=mapping)["State"], lambda s: s == "Enabled", 60, "the mapping")

        parameters = {
            "Name": run,
            "CodeBucket": run,
            "CodeKey": "controller.zip",
            "MappingUuid": mapping,
            "ConsumerName": f"{run}-consumer",
            "ConsumerRoleArn": role_arn,
            "QueueArn": queue_arn,
        }
        cfn.create_stack(
            StackName=run,
            TemplateBody=template,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
        cleanup.append(lambda: delete_stack(cfn, run))
        stack = wait_for(
            lambda: cfn.describe_stacks(StackName=run)["Stacks"][0],
            lambda s: not s["StackStatus"].endswith("_IN_PROGRESS"),
            STACK_TIMEOUT_S,
            "the stack",
        )
        assert stack["StackStatus"] == "CREATE_COMPLETE", f"{stack['StackStatus']}:\n{stack_failures(cfn, run)}"
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        yield Deployment(run, outputs, mapping, queue_url, queue_arn, role_arn)
    finally:
        # Newest first: the stack before the mapping, the mapping before its function. Best
        # effort: one step failing must not leave the others' resources behind.
        for step in reversed(cleanup):
            with contextlib.suppress(Exception):
                step()


def delete_bucket(s3: Any, bucket: str) -> None:
    for found in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=found["Key"])
    s3.delete_bucket(Bucket=bucket)


def delete_stack(cfn: Any, run: str) -> None:
    """Deletes the stack and waits until it is gone (its resources are all DESTROY)."""
    cfn.delete_stack(StackName=run)
    deadline = time.monotonic() + STACK_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            status = cfn.describe_stacks(StackName=run)["Stacks"][0]["StackStatus"]
        except cfn.exceptions.ClientError:
            return
        if status == "DELETE_COMPLETE":
            return
        time.sleep(0.5)


def test_every_resource_of_the_template_is_created(deployment: Deployment, template: str) -> None:
    resources = client("cloudformation").describe_stack_resources(StackName=deployment.run)["StackResources"]
    created = {r["LogicalResourceId"]: r["ResourceStatus"] for r in resources}
    assert set(created) == set(json.loads(template)["Resources"])
    assert set(created.values()) == {"CREATE_COMPLETE"}


def test_the_key_is_customer_managed_and_rotates(deployment: Deployment) -> None:
    kms = client("kms")
    key = kms.describe_key(KeyId=deployment.outputs["KeyArn"])["KeyMetadata"]
    assert key["KeyManager"] == "CUSTOMER"
    assert kms.get_key_rotation_status(KeyId=deployment.outputs["KeyArn"])["KeyRotationEnabled"] is True


@pytest.mark.parametrize(
    ("output", "redrive"),
    [("DeadLetterQueueUrl", "byQueue"), ("OverflowQueueUrl", "denyAll"), ("FailureQueueUrl", "denyAll")],
)
def test_each_queue_is_encrypted_tls_only_and_a_dead_letter_target_for_its_source_only(deployment: Deployment, output: str, redrive: str) -> None:
    attributes = client("sqs").get_queue_attributes(QueueUrl=deployment.outputs[output], AttributeNames=["All"])["Attributes"]
    assert attributes["KmsMasterKeyId"] == deployment.outputs["KeyArn"]
    allow = json.loads(attributes["RedriveAllowPolicy"])
    assert allow["redrivePermission"] == redrive
    if redrive == "byQueue":
        assert allow["sourceQueueArns"] == [deployment.source_queue_arn]
    (statement,) = json.loads(attributes["Policy"])["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_controller_runs_bootstrap_with_tracing_and_the_rendered_config(deployment: Deployment) -> None:
    lam = client("lambda")
    function = lam.get_function(FunctionName=deployment.outputs["FunctionName"])
    config = function["Configuration"]
    assert (config["Runtime"], config["Handler"], config["Architectures"]) == ("provided.al2023", "bootstrap", ["x86_64"])
    assert config["TracingConfig"]["Mode"] == "Active"
    rendered = json.loads(config["Environment"]["Variables"]["FLOODGATE_CONFIG"])
    assert rendered["account_id"] == ACCOUNT
    assert rendered["region"] == REGION
    (circuit,) = rendered["circuits"]
    assert circuit["event_source_mapping_uuid"] == deployment.mapping_uuid
    assert circuit["function_name"] == f"{deployment.run}-consumer"
    assert circuit["overflow"]["queue_url"] == deployment.outputs["OverflowQueueUrl"]
    assert [a["name"] for a in circuit["alarms"]] == [f"{deployment.run}-orders-{k}" for k in ("errors", "throttles", "depth", "age")]


def test_failed_invocations_of_the_alias_go_to_the_failure_queue(deployment: Deployment) -> None:
    lam = client("lambda")
    invoke = lam.get_function_event_invoke_config(FunctionName=deployment.outputs["FunctionName"], Qualifier="live")
    failures = client("sqs").get_queue_attributes(QueueUrl=deployment.outputs["FailureQueueUrl"], AttributeNames=["QueueArn"])
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == failures["Attributes"]["QueueArn"]
    assert invoke["MaximumRetryAttempts"] == 2


def test_only_the_circuit_alarms_of_this_account_may_invoke_the_alias(deployment: Deployment) -> None:
    policy = json.loads(client("lambda").get_policy(FunctionName=deployment.outputs["FunctionName"], Qualifier="live")["Policy"])
    arns = []
    for statement in policy["Statement"]:
        assert statement["Principal"] == {"Service": "lambda.alarms.cloudwatch.amazonaws.com"}
        assert statement["Resource"] == deployment.outputs["AliasArn"]
        arns.append(statement["Condition"]["ArnLike"]["AWS:SourceArn"])
    assert sorted(arns) == sorted(f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{deployment.run}-orders-{k}" for k in ("errors", "throttles", "depth", "age"))


def test_every_alarm_invokes_the_alias_on_alarm_and_ok(deployment: Deployment) -> None:
    names = [f"{deployment.run}-orders-{k}" for k in ("errors", "throttles", "depth", "age")]
    alarms = {a["AlarmName"]: a for a in client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]}
    assert set(alarms) == set(names)
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [deployment.outputs["AliasArn"]]
        assert alarm["OKActions"] == [deployment.outputs["AliasArn"]]
    expressions = [m.get("Expression") for m in alarms[names[0]]["Metrics"]]
    assert "IF(invocations >= 10, 100 * errors / invocations, 0)" in expressions


def test_the_schedule_ticks_the_alias(deployment: Deployment) -> None:
    schedule = client("scheduler").get_schedule(Name=deployment.outputs["ScheduleName"])
    assert schedule["Target"]["Arn"] == deployment.outputs["AliasArn"]
    assert json.loads(schedule["Target"]["Input"]) == {"floodgate": "tick"}
    assert schedule["ScheduleExpression"] == "rate(1 minute)"


def invoke(deployment: Deployment, payload: dict[str, Any]) -> dict[str, Any]:
    answer = client("lambda").invoke(FunctionName=deployment.outputs["AliasArn"], Payload=json.dumps(payload).encode())
    body = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, body
    return body


def test_a_tick_through_the_alias_reconciles_the_circuit_with_the_deployed_config(deployment: Deployment) -> None:
    answer = invoke(deployment, {"floodgate": "tick"})
    (status,) = answer["circuits"]
    assert status["circuit"] == "orders"
    assert status["state"] == "closed"
    assert status["level"] == 10


def test_an_alarm_action_invokes_the_controller_which_throttles_the_mapping(deployment: Deployment) -> None:
    cloudwatch, lam = client("cloudwatch"), client("lambda")
    cloudwatch.set_alarm_state(AlarmName=f"{deployment.run}-orders-throttles", StateValue="ALARM", StateReason="deploy test")
    # Nothing else invokes the controller meanwhile (LocalStack runs no schedule), so the
    # mapping moving to the safe level is the alarm action's doing.
    wait_for(
        lambda: lam.get_event_source_mapping(UUID=deployment.mapping_uuid).get("ScalingConfig", {}).get("MaximumConcurrency"),
        lambda level: level == 4,
        60,
        "MaximumConcurrency after the throttles alarm",
    )
    (status,) = invoke(deployment, {"floodgate": "command", "command": "status"})["circuits"]
    assert (status["state"], status["level"]) == ("throttled", 4)
