"""The search service: bucket, table, the functions, the grants between them, the work queue
and what feeds it (table stream pipe, sweep schedule), the batch failure queue, the monitoring
(dashboard, alarms, alarm topic) and, with index_backend=s3vectors, the S3 Vectors index."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, Aws, CfnOutput, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_logs as logs
from constructs import Construct

from clipsearch.extract.routes import ROUTES as UPLOAD_ROUTES
from clipsearch.layout import CACHE_PREFIX, FRAMES_PREFIX, INDEX_LEDGER_PREFIX, UPLOADS_PREFIX
from clipsearch.search.routes import INTEGRATION_TIMEOUT_S
from deployment.config import LOG_RETENTION, AppConfig
from deployment.runtime_env import EMBEDDING_DIM, function_environments
from deployment.web_policy import PAGE_SCOPES, SEARCH_SCOPE, UPLOAD_SCOPE
from stacks.components.container_function import AssetImage, ContainerFunction, RegistryImage
from stacks.components.failure_queue import FailureQueue
from stacks.components.frame_bucket import FrameBucket
from stacks.components.http_api import ApiAuth, SearchHttpApi
from stacks.components.ingest_queue import IngestQueue
from stacks.components.monitoring import Monitored, Monitoring, WorkQueueAlarms
from stacks.components.sweep_schedule import SweepSchedule
from stacks.components.table_stream_pipe import TableStreamPipe
from stacks.components.user_pool import SignIn
from stacks.components.vector_index import VectorIndex
from stacks.components.videos_table import VideosTable
from stacks.components.web_site import WebSite
from stacks.components.work_queue import WorkQueue

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class FrameSearchStack(Stack):
    """Exposes `frame_bucket`, `videos_table`, `clip`, `search`, `batch` (ContainerFunctions),
    `work` (WorkQueue), `stream_pipe` (TableStreamPipe or None), `sweep` (SweepSchedule or None),
    `batch_failures` (FailureQueue), `monitoring` (Monitoring) and `vector_index` (VectorIndex, or
    None with the memory backend)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        retention = log_retention(config)

        self.frame_bucket = FrameBucket(
            self,
            "FrameBucket",
            bucket_name=config.physical_bucket_name(Aws.ACCOUNT_ID),
            access_log_bucket_name=config.access_log_bucket_name(Aws.ACCOUNT_ID),
            create=config.create_bucket,
            versioned=config.bucket_versioned,
            access_logs=config.bucket_access_logs,
            log_retention=retention,
            kms_key_arn=config.bucket_kms_key_arn,
        )
        self.videos_table = VideosTable(
            self,
            "VideosTable",
            table_name=config.physical_table_name,
            create=config.create_table,
            existing_stream_arn=config.videos_stream_arn,
        )
        # index_backend=s3vectors: the index the batch function fills and the search queries.
        self.vector_index = (
            VectorIndex(
                self,
                "VectorIndex",
                vector_bucket_name=config.physical_vector_bucket_name,
                index_name=config.vector_index_name,
                dimension=EMBEDDING_DIM,
                create=config.create_vector_index,
                kms_key_arn=config.bucket_kms_key_arn,
            )
            if config.index_backend == "s3vectors"
            else None
        )
        # Every producer's one way to the batch function (stacks/components/work_queue.py).
        self.work = WorkQueue(
            self, "Work", function_timeout_s=config.batch_timeout_s, max_receives=config.work_max_receives
        )
        # Video in (frame_extraction): uploads/ -> S3 notification -> this queue -> the extraction function.
        self.ingest = (
            IngestQueue(
                self,
                "Ingest",
                function_timeout_s=config.extract_timeout_s,
                max_receives=config.ingest_max_receives,
            )
            if config.frame_extraction
            else None
        )

        def image(role: str) -> AssetImage | RegistryImage:
            if config.image_source == "ecr":
                settings = getattr(config, role)
                assert settings.image_tag  # the config model requires image_tag for ecr
                # By name, not by object: no CloudFormation export ties this stack to the images stack.
                repository = ecr.Repository.from_repository_name(
                    self, f"{role.capitalize()}Repository", settings.repository_name
                )
                # The digest `make deploy` resolved the tag to pins the image; else the tag.
                return RegistryImage(repository=repository, tag=settings.image_digest or settings.image_tag)
            # What each image gets: lambda_<role>/Dockerfile.dockerignore, as for `docker build`,
            # with its build arguments (the model images' precision).
            return AssetImage(
                context_dir=PROJECT_ROOT,
                dockerfile=f"lambda_{role}/Dockerfile",
                build_args=getattr(config, role).build_args or None,
            )

        # Each function gets only the variables its handler reads (deployment/runtime_env.py).
        environments = function_environments(
            config,
            bucket=config.physical_bucket_name(Aws.ACCOUNT_ID),
            work_queue_url=self.work.queue.queue_url,
            ingest_queue_url=self.ingest.queue.queue_url if self.ingest else "",
        )

        # The search path's share of the account's concurrency: the search and the CLIP function it
        # calls (at most one call per search), so a backfill cannot starve them.
        reserved = {"clip": config.search_reserved_concurrency, "search": config.search_reserved_concurrency}

        def function(role: str, description: str) -> ContainerFunction:
            return ContainerFunction(
                self,
                f"{role.capitalize()}Function",
                settings=getattr(config, role),
                image=image(role),
                environment=environments[role],
                log_retention=retention,
                description=description,
                tracing=config.tracing,
                reserved_concurrency=reserved.get(role, 0),
            )

        self.clip = function("clip", "CLIP ViT-B/32: text or frames -> normalised 512-d embeddings")
        self.search = function("search", "Text or image query -> top-k video frames from the cache")
        self.batch = function("batch", "Embeds a video's frames into embeddings-cache/, resumably")
        self.extract = (
            function("extract", "Uploaded video -> keyframes in frames/ and a processed videos row")
            if self.ingest
            else None
        )
        # Re-embedding requests the search queues (async invoke) that still fail after Lambda's
        # retries land here instead of vanishing; the dashboard and an alarm watch the queue.
        self.batch_failures = FailureQueue(self, "BatchFailures")
        self.batch_failures.attach(
            self.batch.function,
            retry_attempts=config.batch_async_retries,
            max_event_age_s=config.batch_async_max_event_age_s,
        )

        # The guide's policies, statement by statement (docs/operators/iam.md, and its deviation table).
        self.frame_bucket.grant_read_cache(self.search.role)
        self.videos_table.grant_read(self.search.role)
        self.clip.grant_invoke(self.search.role)
        for embedder in (self.clip, self.batch):
            self.frame_bucket.grant_read_frames(embedder.role)
            self.frame_bucket.grant_write_cache(embedder.role)
        # Deviations (docs/operators/iam.md): batch lists a video's frames and reads what is already cached.
        self.frame_bucket.grant_list(self.batch.role, FRAMES_PREFIX)
        self.frame_bucket.grant_list(self.batch.role, CACHE_PREFIX)
        self.frame_bucket.grant_read_cache(self.batch.role)
        # Deviations (docs/operators/iam.md): search queues re-embedding and tells a missing cache from a
        # denied one.
        self.work.grant_send(self.search.role)
        self.frame_bucket.grant_list(self.search.role, CACHE_PREFIX)
        # Deviations (docs/operators/iam.md): batch consumes the work queue (the mapping; CDK's grant), sends
        # chunks of long videos and the sweep's videos to it, and the sweep scans the table.
        self.work.feed(self.batch.function, max_concurrency=config.batch_max_concurrency)
        self.work.grant_send(self.batch.role)
        self.videos_table.grant_scan(self.batch.role)
        # Deviations (docs/operators/iam.md), only with bucket_kms_key_arn: use the bucket's key.
        self.frame_bucket.grant_key(self.search.role, write=False)
        for embedder in (self.clip, self.batch):
            self.frame_bucket.grant_key(embedder.role, write=True)
        # Deviations (docs/operators/iam.md), only with index_backend=s3vectors: batch writes the index and
        # keeps one ledger per video of what it holds there (the sweep lists them and deletes those of
        # gone videos); search queries the index and lists the ledgers. With bucket_kms_key_arn the
        # vector bucket uses the frame bucket's key, which both roles may already use (above).
        if self.vector_index:
            self.vector_index.grant_write(self.batch.role)
            self.frame_bucket.grant_read_write_delete(
                self.batch.role,
                INDEX_LEDGER_PREFIX,
                "Reads, writes and deletes the per-video ledgers of the vector index, under vector-index/.",
            )
            self.frame_bucket.grant_list(self.batch.role, INDEX_LEDGER_PREFIX)
            self.videos_table.grant_get_item(self.batch.role)
            self.vector_index.grant_query(self.search.role)
            self.frame_bucket.grant_list(self.search.role, INDEX_LEDGER_PREFIX)
            self.frame_bucket.grant_read(
                self.search.role,
                INDEX_LEDGER_PREFIX,
                "Reads (HEADs) the per-video ledgers of the vector index, under vector-index/ only.",
            )

        if self.ingest and self.extract:
            self.video_in(config, self.ingest, self.extract)

        # Indexing on change: a pipe from the table's stream (created table, or videos_stream_arn).
        self.stream_pipe = (
            TableStreamPipe(
                self,
                "StreamPipe",
                stream_arn=self.videos_table.stream_arn,
                queue=self.work.queue,
                dead_letter_queue=self.batch_failures.queue,
            )
            if self.videos_table.stream_arn
            else None
        )
        # The sweep (sweep_schedule; "" turns it off).
        self.sweep = (
            SweepSchedule(
                self,
                "SweepSchedule",
                expression=config.sweep_schedule,
                function=self.batch.function,
                dead_letter_queue=self.batch_failures.queue,
            )
            if config.sweep_schedule
            else None
        )

        # Search from a browser: the HTTP API, and with a JWT mode the page and (cognito) its sign-in.
        self.browser_access(config)

        monitored = {
            role: Monitored(
                role=role,
                function=getattr(self, role).function,
                function_name=getattr(config, role).function_name,
                timeout_s=getattr(config, role).timeout_s,
            )
            for role in config.roles
        }
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            dashboard_name=config.account_wide_name,
            functions=list(monitored.values()),
            search=monitored["search"],
            failure_queue=self.batch_failures.queue,
            alarm_email=config.alarm_email,
            queues=tuple(
                WorkQueueAlarms(
                    name=name,
                    queue=queue.queue,
                    dead_letter_queue=queue.dead_letter_queue,
                    max_age_s=config.work_max_age_s,
                )
                for name, queue in (("Work", self.work), ("Ingest", self.ingest))
                if queue is not None
            ),
        )

        outputs = {
            "BucketName": self.frame_bucket.bucket.bucket_name,
            "VideosTableName": self.videos_table.table.table_name,
            "BatchFailureQueueUrl": self.batch_failures.queue.queue_url,
            "WorkQueueUrl": self.work.queue.queue_url,
            "WorkDeadLetterQueueUrl": self.work.dead_letter_queue.queue_url,
            "AlarmTopicArn": self.monitoring.topic.topic_arn,
            "DashboardName": self.monitoring.dashboard.dashboard_name,
        }
        if self.vector_index:
            outputs["VectorIndexArn"] = self.vector_index.index_arn
        if self.ingest:
            outputs["IngestQueueUrl"] = self.ingest.queue.queue_url
            outputs["IngestDeadLetterQueueUrl"] = self.ingest.dead_letter_queue.queue_url
        for role in config.roles:
            container: ContainerFunction = getattr(self, role)
            outputs[f"{role.capitalize()}FunctionName"] = container.function.function_name
            outputs[f"{role.capitalize()}FunctionArn"] = container.function.function_arn
        outputs["ApiUrl"] = self.http_api.url
        if self.web_site:
            outputs["PageUrl"] = self.web_site.url
        if self.sign_in:
            outputs["UserPoolId"] = self.sign_in.user_pool.user_pool_id
        # The -c options to deploy onto what `cdk destroy` keeps, the created table's stream with them
        redeploy = config.redeploy_context(
            Aws.ACCOUNT_ID, self.videos_table.stream_arn if config.create_table else None
        )
        if redeploy:
            outputs["RedeployContext"] = redeploy
        for warning in config.synth_warnings:
            Annotations.of(self).add_warning_v2("clipsearch:configuration", warning)
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)

    def video_in(self, config: AppConfig, ingest: IngestQueue, extract: ContainerFunction) -> None:
        """The extraction function reads uploads/ and writes frames/ and the rows (docs/api/extract.md;
        every statement is a row of the IAM deviation table)."""
        role = extract.role
        ingest.notify_from(self.frame_bucket.bucket)
        ingest.feed(extract.function, max_concurrency=config.extract_max_concurrency)
        ingest.grant_send(role)
        self.work.grant_send(role)
        self.frame_bucket.grant_objects(
            role,
            ["s3:GetObject", "s3:PutObject"],
            UPLOADS_PREFIX,
            "Reads uploaded videos, and signs the page's uploads (presigned POST), under uploads/ only.",
        )
        self.frame_bucket.grant_objects(
            role,
            ["s3:PutObject", "s3:DeleteObject"],
            FRAMES_PREFIX,
            "Writes the keyframes it extracts, deletes those of replaced or deleted uploads: frames/ only.",
        )
        self.frame_bucket.grant_list(role, UPLOADS_PREFIX)
        self.frame_bucket.grant_list(role, FRAMES_PREFIX)
        self.frame_bucket.grant_key(role, write=True)
        self.videos_table.grant_rows(role)

    def browser_access(self, config: AppConfig) -> None:
        retention = log_retention(config)
        """`http_api` (SearchHttpApi), `web_site` (WebSite or None with api_auth=iam) and `sign_in`
        (SignIn, api_auth=cognito only). docs/api/http.md."""
        region = config.region
        # Deviation (docs/operators/iam.md): the search presigns GET URLs of the frames it returns, and of a
        # moment's uploaded video (frame_extraction).
        self.frame_bucket.grant_read_frames(self.search.role)
        if config.frame_extraction:
            self.frame_bucket.grant_read(
                self.search.role,
                UPLOADS_PREFIX,
                "Presigns GET URLs of the uploaded videos a search's moments play, under uploads/ only.",
            )
        self.web_site: WebSite | None = None
        self.sign_in: SignIn | None = None
        domain_prefix = (
            config.cognito_domain_prefix or f"{config.service_stack_name.lower()}-{Aws.ACCOUNT_ID}"
        )
        sign_in_url = f"https://{domain_prefix}.auth.{region}.amazoncognito.com"
        if config.web_page:
            # Presigned URLs name the bucket's regional or global virtual-hosted endpoint; a name
            # with a dot cannot be a TLS host name, so boto3 signs path-style URLs for it. By name,
            # not by the bucket's attributes: the bucket's CORS names the page (no cycle).
            name = config.physical_bucket_name(Aws.ACCOUNT_ID)
            bucket_origins = [
                f"https://{name}.s3.{region}.amazonaws.com",
                f"https://{name}.s3.amazonaws.com",
                *([f"https://s3.{region}.amazonaws.com"] if "." in (config.bucket_name or "") else []),
            ]
            connect = [f"https://*.execute-api.{region}.amazonaws.com"]
            if config.api_auth == "cognito":
                connect.append(sign_in_url)
            if config.frame_extraction:
                connect += bucket_origins  # the page POSTs uploads straight to the bucket
            self.web_site = WebSite(
                self,
                "WebSite",
                connect_sources=connect,
                image_sources=bucket_origins,
                # a moment plays its uploaded video (presigned, from the same bucket)
                media_sources=bucket_origins if config.frame_extraction else [],
                log_retention=retention,
                assets_qualifier=config.cdk_qualifier,
                account_wide_name=config.account_wide_name,
            )
        if config.api_auth == "cognito":
            assert self.web_site is not None
            self.sign_in = SignIn(
                self, "SignIn", domain_prefix=domain_prefix, region=region, page_url=self.web_site.url
            )
            auth = ApiAuth(
                mode="cognito",
                user_pool=self.sign_in.user_pool,
                client=self.sign_in.client,
                scopes=(SEARCH_SCOPE,),
            )
        elif config.api_auth == "jwt":
            auth = ApiAuth(
                mode="jwt",
                issuer=config.api_jwt_issuer,
                audience=tuple(config.jwt_audience),
                scopes=tuple(config.jwt_scopes),
            )
        else:
            auth = ApiAuth(mode="iam")
        if self.extract:
            auth = dataclasses.replace(
                auth,
                upload_scopes=(UPLOAD_SCOPE,)
                if config.api_auth == "cognito"
                else tuple(config.jwt_upload_scopes or config.jwt_scopes),
            )
        self.http_api = SearchHttpApi(
            self,
            "HttpApi",
            function=self.search.function,
            auth=auth,
            allowed_origins=[self.web_site.url.rstrip("/")] if self.web_site else [],
            throttle_rate=config.api_throttle_rate,
            throttle_burst=config.api_throttle_burst,
            timeout_s=INTEGRATION_TIMEOUT_S,
            log_retention=retention,
        )
        if self.extract:
            self.http_api.add_routes(
                "Uploads", self.extract.function, UPLOAD_ROUTES, scopes=auth.upload_scopes
            )
            if self.web_site:
                self.frame_bucket.allow_uploads_from(self.web_site.url.rstrip("/"))
        if self.web_site:
            page_auth: dict[str, str] = {"mode": config.api_auth}
            if self.sign_in:
                page_auth |= {
                    "domain": sign_in_url,
                    "clientId": self.sign_in.client.user_pool_client_id,
                    "scope": PAGE_SCOPES,
                }
            self.web_site.publish({"apiUrl": self.http_api.url, "auth": page_auth})


def log_retention(config: AppConfig) -> logs.RetentionDays:
    """CloudWatch Logs' retention of `log_retention_days`, looked up by name (the configuration
    never loads the CDK)."""
    retention: logs.RetentionDays = getattr(logs.RetentionDays, LOG_RETENTION[config.log_retention_days])
    return retention
