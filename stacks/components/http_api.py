"""The HTTP API in front of the search function: `POST /search` and `GET /videos`, each behind the
authorizer (JWT: the stack's Cognito user pool or a configured issuer; or IAM), stage throttling,
JSON access logs to a log group with retention, CORS for the page's origin only."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from clipsearch.search.routes import ROUTES

# One JSON line per request: who, what, how it ended, and why when the authorizer or the function
# failed (API Gateway's $context variables for HTTP APIs).
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "caller": "$context.authorizer.claims.sub",
        "iamCaller": "$context.identity.userArn",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationStatus": "$context.integrationStatus",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
    },
    separators=(",", ":"),
)


@dataclass(frozen=True, kw_only=True)
class ApiAuth:
    """How every route is authorized: `cognito` (pool and client given), `jwt` (issuer, audience), `iam`."""

    mode: str
    user_pool: cognito.IUserPool | None = None
    client: cognito.IUserPoolClient | None = None
    issuer: str | None = None
    audience: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()  # the search routes require one of these in the token (JWT modes)
    upload_scopes: tuple[str, ...] = ()  # the upload routes require one of these (JWT modes)

    def authorizer(self) -> apigw.IHttpRouteAuthorizer:
        if self.mode == "cognito":
            assert self.user_pool is not None
            assert self.client is not None
            return authorizers.HttpUserPoolAuthorizer(
                "UserPoolAuthorizer", self.user_pool, user_pool_clients=[self.client]
            )
        if self.mode == "jwt":
            assert self.issuer is not None
            return authorizers.HttpJwtAuthorizer(
                "JwtAuthorizer", self.issuer, jwt_audience=list(self.audience)
            )
        assert self.mode == "iam", self.mode
        return authorizers.HttpIamAuthorizer()


class SearchHttpApi(Construct):
    """Exposes `api`, `stage`, `url` (ends with /), `log_group` and `routes`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        auth: ApiAuth,
        allowed_origins: list[str],
        throttle_rate: int,
        throttle_burst: int,
        timeout_s: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        cors = (
            apigw.CorsPreflightOptions(
                allow_origins=allowed_origins,
                allow_methods=[apigw.CorsHttpMethod.GET, apigw.CorsHttpMethod.POST],
                allow_headers=["authorization", "content-type"],
                max_age=Duration.hours(1),
            )
            if allowed_origins
            else None
        )
        self.api = apigw.HttpApi(
            self,
            "Api",
            description="Search video frames: POST /search, GET /videos",
            cors_preflight=cors,
            create_default_stage=False,
        )
        self.log_group = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.stage = apigw.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=throttle_rate, burst_limit=throttle_burst),
        )
        cfn_stage = self.stage.node.default_child
        assert isinstance(cfn_stage, apigw.CfnStage)
        cfn_stage.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.log_group.log_group_arn, format=ACCESS_LOG_FORMAT
        )
        self.timeout_s = timeout_s
        self.authorizer = auth.authorizer()
        self.routes: list[apigw.HttpRoute] = []
        self.add_routes("Search", function, ROUTES, scopes=auth.scopes)
        self.url = f"{self.api.api_endpoint}/"

    def add_routes(
        self,
        name: str,
        function: lambda_.IFunction,
        routes: Iterable[tuple[str, str]],
        *,
        scopes: tuple[str, ...],
    ) -> None:
        """`routes` ((method, path) pairs) to `function`, behind the authorizer, each requiring one
        of `scopes` in the token (JWT modes; none: any token of the audience)."""
        integration = integrations.HttpLambdaIntegration(
            name,
            function,
            payload_format_version=apigw.PayloadFormatVersion.VERSION_2_0,
            timeout=Duration.seconds(self.timeout_s),
        )
        for method, path in routes:
            self.routes += self.api.add_routes(
                path=path,
                methods=[apigw.HttpMethod(method)],
                integration=integration,
                authorizer=self.authorizer,
                authorization_scopes=list(scopes) or None,
            )
