"""deploy/nginx.conf as shipped: the HTTP redirect sends to the port HTTPS is served on.
tests/test_reverse_proxy.py runs the file itself, on ports that are not the default ones."""

import re

from tests.conftest import ROOT


def test_the_redirect_sends_to_the_port_nginx_serves_https_on():
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    [https_port] = re.findall(r"^\s*listen (\d+) ssl;", conf, re.M)
    [redirect] = re.findall(r"^\s*return 301 (\S+);", conf, re.M)
    assert redirect == f"https://$server_name:{https_port}$request_uri"
