"""The upload routes through the extraction handler (HTTP API payload 2.0): a presigned POST that S3
holds the browser to (one key in the caller's folder, one content type, the size limit), and what
became of an upload; every bad request a 4xx naming what is wrong."""

from __future__ import annotations

import base64
import json
import urllib.parse
from typing import Any

import pytest

from clipsearch.extract.uploads import owner_folder
from clipsearch.layout import upload_video_id
from tests.conftest import BUCKET, FakeLambdaContext
from tests.extract.conftest import run, upload
from tests.search.test_http_api import v2_event

pytestmark = pytest.mark.unit

MAX_MB = 5


def call(app: Any, method: str, body: Any = None, *, query: dict[str, str] | None = None, sub: str = "user"):
    event = v2_event(method, "/uploads", body)
    event["requestContext"]["authorizer"]["jwt"]["claims"] = {"sub": sub} if sub else {}
    if query is not None:
        event["rawQueryString"] = urllib.parse.urlencode(query)
        event["queryStringParameters"] = query
    answer = app.handler(event, FakeLambdaContext(function_name="clip-extract"))
    return answer["statusCode"], json.loads(answer["body"])


def test_a_presigned_post_holds_the_browser_to_one_key_type_and_size(extract_handler):
    app = extract_handler(EXTRACT_MAX_UPLOAD_MB=str(MAX_MB))
    status, form = call(
        app, "POST", {"name": "My Holiday (1).MP4", "size": 1234, "content_type": "video/mp4"}
    )
    assert status == 200, form
    assert form["key"] == f"uploads/page/{owner_folder('user')}/My-Holiday-1.mp4"
    assert (form["expires_s"], form["max_bytes"]) == (900, MAX_MB * 2**20)
    assert form["fields"]["key"] == form["key"]
    assert form["fields"]["Content-Type"] == "video/mp4"
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert ["content-length-range", 1, MAX_MB * 2**20] in policy["conditions"]
    assert {"Content-Type": "video/mp4"} in policy["conditions"]
    assert {"bucket": BUCKET} in policy["conditions"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "a.mp4", "size": 1, "content_type": "image/png"}, "content_type must be one of video/mp4"),
        ({"name": "a.avi", "size": 1, "content_type": "video/mp4"}, "must end in .mp4 or .m4v"),
        ({"name": " ", "size": 1, "content_type": "video/mp4"}, "name must be the file's name"),
        ({"name": "a.mp4", "size": 0, "content_type": "video/mp4"}, "size must be the file's size"),
        ({"name": "a.mp4", "size": True, "content_type": "video/mp4"}, "size must be the file's size"),
        ({"name": "a.mp4", "size": MAX_MB * 2**20 + 1, "content_type": "video/mp4"}, "from 1 to 5,242,880"),
        ({"name": "a.mp4", "size": 1, "content_type": "video/mp4", "acl": "public"}, "unknown field(s) acl"),
    ],
)
def test_a_bad_upload_request_is_a_400_naming_the_field(extract_handler, body, message):
    status, answer = call(extract_handler(EXTRACT_MAX_UPLOAD_MB=str(MAX_MB)), "POST", body)
    assert status == 400
    assert message in answer["error"]


def test_a_token_without_a_subject_may_not_upload(extract_handler):
    body = {"name": "a.mp4", "size": 1, "content_type": "video/mp4"}
    assert call(extract_handler(), "POST", body, sub="")[0] == 403


def test_the_status_of_an_upload_follows_it_from_waiting_to_processed(extract_handler, s3, video):
    app = extract_handler()
    key = "uploads/a.mp4"
    assert call(app, "GET", query={"key": key}) == (404, {"error": f"no upload {key}"})
    event = upload(s3, key, video)
    assert call(app, "GET", query={"key": key})[1]["status"] == "waiting"
    run(app, event)
    status, answer = call(app, "GET", query={"key": key})
    video_id = upload_video_id(BUCKET, key, event["Records"][0]["s3"]["object"]["eTag"])
    assert (status, answer["status"], answer["video_id"], answer["frames"]) == (200, "processed", video_id, 6)
    assert answer["error"] is None


@pytest.mark.parametrize("query", [{}, {"key": "frames/x/frame_000000.webp"}])
def test_a_status_of_something_not_an_upload_is_a_400(extract_handler, query):
    status, answer = call(extract_handler(), "GET", query=query)
    assert status == 400
    assert "key must be an upload key under uploads/" in answer["error"]
