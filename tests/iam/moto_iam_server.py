"""moto's server with IAM enforcement, for the least-privilege proof (tests/iam/test_iam_moto.py).

Run as a script in a subprocess: ``INITIAL_NO_AUTH_ACTION_COUNT=<n> python moto_iam_server.py 127.0.0.1``.
moto reads INITIAL_NO_AUTH_ACTION_COUNT when it is imported, which is why this is a separate process. It listens on
a port the system picks (port 0: no window in which another process can take a port chosen beforehand) and prints
that port on its first line of stdout once it accepts connections.

One shim, using moto's own hook: moto 5.2.5 authorizes S3 requests against the real bucket/object ARN,
but SNS and KMS requests against ``Resource="*"`` (no ``_determine_resource`` on their response classes),
so a policy scoped to one topic or one key could never match. We add ``_determine_resource`` for those two
services so that moto's own matcher (``IAMPolicyStatement._check_element_matches``) compares the policy's
``Resource`` with the topic ARN / key ARN the request names. Nothing else is changed: moto still does
not evaluate ``Condition`` blocks (see docs/SECURITY.md).
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _sns_resource(self: Any) -> str:
    arn = self._get_param("TopicArn") or self._get_param("TargetArn")
    return str(arn) if arn else "*"


def _kms_resource(self: Any) -> str:
    key_id = self._get_param("KeyId")
    if not key_id and self._get_param("CiphertextBlob"):
        from moto.kms.utils import _deserialize_ciphertext_blob

        try:
            key_id = _deserialize_ciphertext_blob(self._get_param("CiphertextBlob")).key_id
        except Exception:
            key_id = None
    if not key_id:
        return "*"
    backend = self.kms_backend
    try:
        if str(key_id).startswith("alias/") or ":alias/" in str(key_id):
            key_id = backend.get_key_id_from_alias(backend.get_alias_name(key_id))
        return str(backend.describe_key(key_id).arn)
    except Exception:
        return "*"


def main() -> None:
    from moto.kms.responses import KmsResponse
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.sns.responses import SNSResponse
    from werkzeug.serving import make_server

    SNSResponse._determine_resource = _sns_resource  # type: ignore[attr-defined]
    KmsResponse._determine_resource = _kms_resource  # type: ignore[attr-defined]
    # what moto.server.main serves, on port 0 (moto.server.main cannot say which port it got)
    server = make_server(sys.argv[1], 0, DomainDispatcherApplication(create_backend_app), threaded=True,
                         request_handler=MotoRequestHandler)
    port = server.socket.getsockname()[1]
    os.environ["MOTO_PORT"] = str(port)  # as moto.server.main sets it
    print(port, flush=True)  # the socket listens already: connections wait in its backlog
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing more on the pipe: the test closes its end
    server.serve_forever()


if __name__ == "__main__":
    main()
