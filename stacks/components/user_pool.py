"""Sign-in for the page (api_auth=cognito): a user pool (administrators create the users), an app
client for the page (authorization code with PKCE, no secret) and a Cognito managed login domain."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from deployment.web_policy import SEARCH_SCOPE_NAME, SEARCH_SCOPE_SERVER, UPLOAD_SCOPE_NAME
from stacks.components.nag import acknowledge


class SignIn(Construct):
    """Exposes `user_pool`, `client`, `domain_url` (https://<prefix>.auth.<region>.amazoncognito.com)
    and `issuer` (what the tokens' `iss` says)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        domain_prefix: str,
        region: str,
        page_url: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "Users",
            self_sign_up_enabled=False,  # people are invited: admin-create-user (docs/api/http.md)
            sign_in_aliases=cognito.SignInAliases(email=True, username=False),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            removal_policy=RemovalPolicy.DESTROY,  # holds only the invited users, no data
        )
        for finding in ("AwsSolutions-COG3", "AwsSolutions-COG8"):
            acknowledge(
                self.user_pool,
                finding,
                "Threat protection (advanced security) needs the Plus feature plan, billed per active "
                "user; the pool has no self sign-up, MFA is required and passwords are strong.",
            )
        search = cognito.ResourceServerScope(
            scope_name=SEARCH_SCOPE_NAME, scope_description="Search video frames"
        )
        upload = cognito.ResourceServerScope(scope_name=UPLOAD_SCOPE_NAME, scope_description="Upload videos")
        self.api_scopes = self.user_pool.add_resource_server(
            "Api", identifier=SEARCH_SCOPE_SERVER, scopes=[search, upload]
        )
        self.client = self.user_pool.add_client(
            "Page",
            generate_secret=False,  # a browser cannot keep a secret: PKCE instead
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[
                    cognito.OAuthScope.OPENID,
                    cognito.OAuthScope.EMAIL,
                    cognito.OAuthScope.resource_server(self.api_scopes, search),
                    cognito.OAuthScope.resource_server(self.api_scopes, upload),
                ],
                callback_urls=[page_url],
                logout_urls=[page_url],
            ),
            prevent_user_existence_errors=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(1),
        )
        # Sign-in only through the managed login page (the code flow): no direct SRP or password
        # sign-in with the page's public client id. CDK's AuthFlow cannot say "none" (it then
        # leaves Cognito's defaults, SRP and custom auth included), so the list is set here.
        client = self.client.node.default_child
        assert isinstance(client, cognito.CfnUserPoolClient)
        client.explicit_auth_flows = ["ALLOW_REFRESH_TOKEN_AUTH"]
        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix),
            managed_login_version=cognito.ManagedLoginVersion.CLASSIC_HOSTED_UI,
        )
        self.domain_url = f"https://{domain_prefix}.auth.{region}.amazoncognito.com"
        self.issuer = f"https://cognito-idp.{region}.amazonaws.com/{self.user_pool.user_pool_id}"
