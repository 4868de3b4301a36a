"""A LocalStack Lambda runtime executor that runs functions as host processes (no Docker).

LocalStack picks its executor through the plux entry-point group
``localstack.lambda.runtime_executor``; ``LAMBDA_RUNTIME_EXECUTOR=floodgate-host`` selects this
one. It is registered without installing anything: ``tests/localaws`` goes on ``PYTHONPATH``,
and the hand-written ``floodgate_executor-0.1.0.dist-info/entry_points.txt`` next to this
package is what ``importlib.metadata`` (and so plux) finds there. ``scripts/local-aws up`` sets
all of that up.

Only ``provided.*`` runtimes on x86_64 without layers can run: the function's ``bootstrap`` is
executed directly, as the host user, with no isolation. That is enough for tests and the local
drill of this project's Rust Lambdas; anything else is rejected when the function is created.
"""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class HostRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "floodgate-host"

    def load(self, *args, **kwargs):
        # Imported lazily, like LocalStack's own Docker plugin: plux imports every plugin
        # module of the group just to list them.
        from floodgate_executor.executor import HostRuntimeExecutor

        return HostRuntimeExecutor
