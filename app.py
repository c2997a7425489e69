#!/usr/bin/env python3
"""CDK entry point: the only place that reads context and the environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from aws_cdk import App, CliCredentialsStackSynthesizer, DefaultStackSynthesizer, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from deployment.config import AppConfig, ConfigError
from deployment.context import load_config, read_cdk_json_context
from stacks.ci_setup_stack import CiSetupStack
from stacks.images_stack import ImageRepositoriesStack
from stacks.search_stack import FrameSearchStack


def build_app(app: App, config: AppConfig) -> tuple[ImageRepositoriesStack, FrameSearchStack]:
    """Add the stacks to `app` and run cdk-nag's AWS Solutions checks on every synth."""
    # Account from the CLI's credentials; region from the configuration.
    env = Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=config.region)

    def synthesizer() -> DefaultStackSynthesizer:
        # The bootstrap (cdk bootstrap --qualifier) whose roles, bucket and repository deploys use:
        # the same qualifier the CI deploy role may assume roles of.
        return DefaultStackSynthesizer(qualifier=config.cdk_qualifier)

    images = ImageRepositoriesStack(
        app,
        config.images_stack_name,
        functions=config.functions,
        create=config.create_repositories,
        keep_images=config.repository_keep_images,
        tag_mutability=config.repository_tag_mutability,
        env=env,
        synthesizer=synthesizer(),
        description="ECR repositories for the CLIP frame search images",
    )
    service = FrameSearchStack(
        app,
        config.service_stack_name,
        config=config,
        env=env,
        synthesizer=synthesizer(),
        description="Serverless text-to-video-frame search with CLIP",
    )
    if config.image_source == "ecr":
        service.add_stack_dependency(images, "the functions run images pushed to its repositories")
    if config.ci_setup:
        CiSetupStack(
            app,
            config.ci_stack_name,
            repository=config.github_repository,
            branch=config.github_branch,
            environment=config.ci_github_environment,
            create_oidc_provider=config.create_github_oidc_provider,
            cdk_qualifier=config.cdk_qualifier,
            repositories=[f.repository_name for f in config.functions.values()],
            reserved_functions=[config.search.function_name, config.clip.function_name],
            env=env,
            # Deployed with an administrator's own credentials, not the bootstrap's execution role,
            # whose policy may not touch this stack's roles: CI cannot change its own role.
            synthesizer=CliCredentialsStackSynthesizer(qualifier=config.cdk_qualifier),
            description="GitHub Actions OIDC roles (deploy, image push) for the CLIP frame search",
        )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return images, service


def main() -> None:
    # cdk.json as defaults: `python app.py` then synthesizes exactly what `cdk synth` does,
    # and the CLI's own context (cdk.json again, plus any -c) still takes precedence.
    app = App(context=read_cdk_json_context(Path(__file__).with_name("cdk.json")))
    try:
        config = load_config(app.node.get_all_context())
    except ConfigError as error:
        sys.exit(str(error))
    build_app(app, config)
    app.synth()


if __name__ == "__main__":
    main()
