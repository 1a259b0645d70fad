"""Signatures against the known vectors published with each vendor's signing documentation."""

from __future__ import annotations

import pytest

from alerting.notifiers import dingtalk, feishu, webhook
from alerting.notifiers.errors import ChannelError

SECRET = "SECthis-is-a-test-secret"


@pytest.mark.parametrize(
    "ts_ms, b64, encoded",
    [
        (1700000000000, "IRZT287QybIa2F/xrEkTcyuBS3Hp0ycAceupV5IhA5s=",
         "IRZT287QybIa2F%2FxrEkTcyuBS3Hp0ycAceupV5IhA5s%3D"),
        (1700000000006, "3gWu03zBDe3p29h4WFLoG6w+gonxD/CXkX6sufiwMq0=",
         "3gWu03zBDe3p29h4WFLoG6w%2BgonxD%2FCXkX6sufiwMq0%3D"),
    ],
)
def test_dingtalk_vectors(ts_ms: int, b64: str, encoded: str) -> None:
    assert dingtalk.sign(SECRET, ts_ms) == b64
    base = "https://oapi.dingtalk.com/robot/send?access_token=abc"
    url = dingtalk.signed_url(base, SECRET, ts_ms)
    # Encoded exactly once: '+', '/' and '=' escaped, '%' not escaped again.
    assert str(url) == (f"https://oapi.dingtalk.com/robot/send?access_token=abc"
                        f"&timestamp={ts_ms}&sign={encoded}")
    assert url.query["sign"] == b64


def test_dingtalk_unsigned_url_untouched() -> None:
    url = "https://oapi.dingtalk.com/robot/send?access_token=abc"
    assert str(dingtalk.signed_url(url, None, 1700000000000)) == url


@pytest.mark.parametrize(
    "ts_s, secret, expected",
    [
        (1599360473, "demo", "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="),  # the vendor's own
        (1700000000, SECRET, "gdeBDn0ZZt7Fp6HbHty8qc7nHdERFc/VAB8yTK7p9FY="),
    ],
)
def test_feishu_vectors(ts_s: int, secret: str, expected: str) -> None:
    assert feishu.sign(secret, ts_s) == expected


def test_feishu_is_not_dingtalk_style() -> None:
    # Key and message swapped (the DingTalk scheme) gives this; Feishu rejects it (19021).
    assert feishu.sign("demo", 1599360473) != "DkEDUyVoOOJ539qBvUgMyzkzIdRWlf4e/V3Rq+ONJnQ="


def test_standard_webhooks_vector() -> None:
    signature = webhook.sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                             "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_standard_webhooks_prefix_optional() -> None:
    with_prefix = webhook.signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert with_prefix == webhook.signing_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")


def test_standard_webhooks_rejects_non_base64_secret() -> None:
    with pytest.raises(ChannelError, match="whsec_"):
        webhook.signing_key("whsec_not base64!")
