"""The HTTP API, the page and its sign-in as synthesized: no route without an authorizer in any auth
mode, CORS for the page only, throttling, access logs, the page's bucket and distribution."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from aws_cdk.assertions import Match

from deployment.web_policy import SEARCH_SCOPE, UPLOAD_SCOPE, content_security_policy
from tests.infra.conftest import Synthesized, synthesize
from tests.infra.test_compliance import BIN

JWT = {
    "api_auth": "jwt",
    "api_jwt_issuer": "https://login.example.com/tenant/",
    "api_jwt_audience": "frame-search, frame-search-cli",
    "api_jwt_scopes": "frames.search",
    "api_jwt_upload_scopes": "frames.upload",
}


@pytest.fixture(scope="module")
def jwt_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-jwt"), **JWT)  # cdk-nag runs in synth


@pytest.fixture(scope="module")
def iam_app(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(tmp_path_factory.mktemp("cdk-iam"), api_auth="iam")


@pytest.fixture(params=["default", "jwt", "iam"])
def auth_app(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(f"{request.param}_app")


def resources(app: Synthesized, kind: str) -> dict[str, Any]:
    return dict(app.service.find_resources(kind))


def test_every_route_has_an_authorizer(auth_app: Synthesized, any_app: Synthesized):
    for app in (auth_app, any_app):
        routes = resources(app, "AWS::ApiGatewayV2::Route")
        keys = sorted(route["Properties"]["RouteKey"] for route in routes.values())
        # no $default, no ANY, no OPTIONS route; the upload routes go to the extraction function
        assert keys == ["GET /uploads", "GET /videos", "POST /search", "POST /uploads"]
        for route in routes.values():
            properties = route["Properties"]
            assert properties["AuthorizationType"] in ("JWT", "AWS_IAM"), properties
            if properties["AuthorizationType"] == "JWT":
                assert "Ref" in properties["AuthorizerId"]


def route_scopes(app: Synthesized) -> dict[str, list[str]]:
    return {
        route["Properties"]["RouteKey"]: route["Properties"]["AuthorizationScopes"]
        for route in resources(app, "AWS::ApiGatewayV2::Route").values()
    }


def test_routes_take_only_tokens_with_their_scope(default_app: Synthesized, jwt_app: Synthesized):
    """An ID token has no scope: requiring one refuses it (API Gateway's JWT authorizer takes any
    token of the issuer and audience otherwise); uploads need a scope of their own (a search-only
    token cannot upload); and the page's client signs in only through the managed login page (no
    SRP or password flow with its public client id)."""
    search, upload = [SEARCH_SCOPE], [UPLOAD_SCOPE]
    assert route_scopes(default_app) == {
        "POST /search": search,
        "GET /videos": search,
        "POST /uploads": upload,
        "GET /uploads": upload,
    }
    assert route_scopes(jwt_app) == {
        "POST /search": ["frames.search"],
        "GET /videos": ["frames.search"],
        "POST /uploads": ["frames.upload"],
        "GET /uploads": ["frames.upload"],
    }
    (client,) = resources(default_app, "AWS::Cognito::UserPoolClient").values()
    assert client["Properties"]["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]
    ((server_id, server),) = resources(default_app, "AWS::Cognito::UserPoolResourceServer").items()
    assert server["Properties"]["Identifier"] == SEARCH_SCOPE.split("/")[0]  # its Ref
    scopes = json.dumps(client["Properties"]["AllowedOAuthScopes"])
    for scope in (SEARCH_SCOPE, UPLOAD_SCOPE):
        assert f'{{"Ref": "{server_id}"}}, "/{scope.split("/")[1]}"' in scopes
    # the access logs say who searched
    (stage,) = resources(default_app, "AWS::ApiGatewayV2::Stage").values()
    assert "$context.authorizer.claims.sub" in stage["Properties"]["AccessLogSettings"]["Format"]


def test_the_authorizer_of_each_mode(default_app, jwt_app, iam_app):
    (cognito,) = resources(default_app, "AWS::ApiGatewayV2::Authorizer").values()
    issuer = json.dumps(cognito["Properties"]["JwtConfiguration"]["Issuer"])
    assert "https://cognito-idp.ap-southeast-1.amazonaws.com/" in issuer
    (client_id,) = resources(default_app, "AWS::Cognito::UserPoolClient")
    assert cognito["Properties"]["JwtConfiguration"]["Audience"] == [{"Ref": client_id}]
    (jwt,) = resources(jwt_app, "AWS::ApiGatewayV2::Authorizer").values()
    assert jwt["Properties"]["JwtConfiguration"] == {
        "Issuer": "https://login.example.com/tenant/",
        "Audience": ["frame-search", "frame-search-cli"],
    }
    assert resources(iam_app, "AWS::ApiGatewayV2::Authorizer") == {}
    for app in (jwt_app, iam_app):
        assert resources(app, "AWS::Cognito::UserPool") == {}
    # with iam there is no page: a browser has no AWS credentials to sign with
    assert resources(iam_app, "AWS::CloudFront::Distribution") == {}
    assert "PageUrl" not in iam_app.service.to_json()["Outputs"]
    assert resources(jwt_app, "AWS::CloudFront::Distribution") != {}


def test_cors_allows_only_the_page(default_app, iam_app):
    (api,) = resources(default_app, "AWS::ApiGatewayV2::Api").values()
    (distribution,) = resources(default_app, "AWS::CloudFront::Distribution")
    cors = api["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == [
        {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution, "DomainName"]}]]}
    ]
    assert sorted(cors["AllowMethods"]) == ["GET", "POST"]
    (iam_api,) = resources(iam_app, "AWS::ApiGatewayV2::Api").values()
    assert "CorsConfiguration" not in iam_api["Properties"]


def test_stage_throttling_access_logs_and_the_integration(default_app):
    (stage,) = resources(default_app, "AWS::ApiGatewayV2::Stage").values()
    properties = stage["Properties"]
    assert properties["StageName"] == "$default"
    assert properties["DefaultRouteSettings"] == {"ThrottlingRateLimit": 20, "ThrottlingBurstLimit": 40}
    log_group = properties["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert default_app.service.to_json()["Resources"][log_group]["Properties"]["RetentionInDays"] == 30
    fields = json.loads(properties["AccessLogSettings"]["Format"])
    assert {"requestId", "status", "routeKey", "integrationError", "authorizerError"} <= set(fields)
    integrations = resources(default_app, "AWS::ApiGatewayV2::Integration").values()
    assert len(integrations) == 2  # the search function's routes, the extraction function's
    for integration in integrations:
        assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
        assert integration["Properties"]["TimeoutInMillis"] == 29_000  # under API Gateway's 30 s


def test_the_page_bucket_is_private_and_read_through_origin_access_control(default_app):
    buckets = resources(default_app, "AWS::S3::Bucket")
    (site,) = [key for key in buckets if key.startswith("WebSiteFiles")]
    assert buckets[site]["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (distribution,) = resources(default_app, "AWS::CloudFront::Distribution").values()
    config = distribution["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]
    assert "OriginAccessControlId" in origin
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    policies = resources(default_app, "AWS::S3::BucketPolicy")
    site_policy = json.dumps([p for p in policies.values() if p["Properties"]["Bucket"] == {"Ref": site}])
    assert '"aws:SecureTransport": "false"' in site_policy
    assert "cloudfront.amazonaws.com" in site_policy


def test_security_headers_and_the_csp(default_app):
    (policy,) = resources(default_app, "AWS::CloudFront::ResponseHeadersPolicy").values()
    headers = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] == 365 * 86400
    assert headers["ContentTypeOptions"]["Override"] is True
    csp = json.dumps(headers["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    assert (
        "connect-src 'self' https://*.execute-api.ap-southeast-1.amazonaws.com https://clipframesearch-"
        in csp
    )
    assert "amazoncognito.com" in csp
    # img-src: the frame bucket's presigned URLs; connect-src: the page's uploads (presigned POST);
    # by the bucket's name (its account and region in it), not its attributes: no cycle with its CORS
    bucket = 'https://totgo1-", {"Ref": "AWS::AccountId"}, "-ap-southeast-1.s3.ap-southeast-1.amazonaws.com'
    images, connect = csp.split("img-src", 1)[1].split(";")[0], csp.split("connect-src", 1)[1].split(";")[0]
    assert bucket in images
    assert bucket in connect
    assert "script-src 'self';" in csp
    assert "'unsafe-inline'" not in csp


def test_csp_directives():
    csp = content_security_policy(connect=["https://api"], images=["https://frames"])
    assert "default-src 'none'" in csp
    assert "img-src 'self' blob: data: https://frames" in csp
    assert "frame-ancestors 'none'" in csp


def test_the_page_client_uses_the_code_flow_with_pkce_and_no_secret(default_app):
    (client,) = resources(default_app, "AWS::Cognito::UserPoolClient").values()
    properties = client["Properties"]
    assert properties["AllowedOAuthFlows"] == ["code"]
    assert properties["GenerateSecret"] is False
    assert "DomainName" in json.dumps(properties["CallbackURLs"])
    (pool,) = resources(default_app, "AWS::Cognito::UserPool").values()
    assert pool["Properties"]["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    assert pool["Properties"]["MfaConfiguration"] == "ON"


def test_the_page_config_is_written_at_deploy_time(default_app, jwt_app):
    for app, mode in ((default_app, "cognito"), (jwt_app, "jwt")):
        (deployment,) = resources(app, "Custom::CDKBucketDeployment").values()
        # the files go with the stack: the deployment empties the page's bucket before its deletion
        assert deployment["Properties"]["RetainOnDelete"] is False
        markers = json.dumps(deployment["Properties"]["SourceMarkers"])
        assert "ApiEndpoint" in markers
        if mode == "cognito":
            assert "amazoncognito.com" in markers
    default_app.service.has_output("ApiUrl", {"Value": Match.any_value()})


def test_the_search_function_reads_its_api_settings(default_app):
    (function,) = [
        value
        for value in resources(default_app, "AWS::Lambda::Function").values()
        if value["Properties"].get("FunctionName") == "clip-search"
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    assert (variables["FRAME_URL_SECONDS"], variables["HTTP_API_TIMEOUT_S"]) == ("600", "29")


def test_cfn_lint_passes_the_jwt_and_iam_templates(jwt_app, iam_app):
    files = [str(path) for app in (jwt_app, iam_app) for path in app.template_files()]
    result = subprocess.run(
        [BIN / "cfn-lint", "--ignore-checks", "W3005", "--", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_page_claims_no_tls_minimum_cloudfront_ignores_and_says_what_it_accepts(default_app):
    """Without a custom certificate CloudFront serves *.cloudfront.net with its TLSv1 policy, whatever
    the template asks: the template asks nothing, and the acknowledgement says so."""
    (distribution,) = resources(default_app, "AWS::CloudFront::Distribution").values()
    assert "ViewerCertificate" not in distribution["Properties"]["DistributionConfig"]
    report = default_app.nag_report
    (cfr4,) = [s for s in report["suppressedViolations"] if s["ruleName"] == "AwsSolutions-CFR4"]
    assert "TLS 1.0" in cfr4["reason"]
    assert "TLSv1.2_2021" not in cfr4["reason"]
