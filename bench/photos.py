"""Photo renditions benchmark: near-limit images uploaded at once, made into renditions by a real
`linli worker` process on PostgreSQL, and what that costs the worker in memory.

Uploads `--png` PNGs (`--side` × `--side`, default 6300 × 6300 = 39.7 megapixels, just under
LINLI_MEDIA_MAX_PIXELS' default of 40,000,000), `--jpeg` JPEGs (`--jpeg-size`, default
8400 × 4725, a 16:9 photo of 39.7 megapixels) and `--webp` WebPs (`--side` square) at the same
moment, through the API (in this process, as a staff member, so no image check is waited for),
then waits until the worker has made every photo's renditions. Reports the worker's resident
memory at rest before the uploads and its peak (`VmHWM` from /proc/<pid>/status, which the kernel
keeps, so nothing is missed between polls), and the time from the first upload until the last
photo was ready.

    .venv/bin/python bench/photos.py --png 8
    .venv/bin/python bench/photos.py --jpeg 8
    .venv/bin/python bench/photos.py --png 4 --jpeg 4 --decode-concurrency 2

It creates a fresh database on the server (LINLI_BENCH_DATABASE_URL, default the local `test`
server) and a temporary media directory, and removes both afterwards. Results go in
bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from api import clock  # noqa: E402
from api.config import Settings  # noqa: E402
from api.db.migrate import upgrade  # noqa: E402
from api.db.models import Community, CommunityMembership, Media, OutboxJob, User  # noqa: E402
from api.db.session import Database  # noqa: E402
from api.main import create_app, shutdown  # noqa: E402
from bench.loadgen import SECRET, fresh_database  # noqa: E402


def picture(size: tuple[int, int], mode: str) -> Image.Image:
    """Smooth colour with some shapes: like a photo or a poster to the decoder (the decoded size
    depends on the pixels, not on the content), yet it compresses to well under the byte limit."""
    width, height = size
    bands = [
        Image.linear_gradient("L").resize(size),
        Image.linear_gradient("L").rotate(90).resize(size),
        Image.radial_gradient("L").resize(size),
    ]
    im = Image.merge("RGB", bands)
    draw = ImageDraw.Draw(im)
    for n in range(12):
        x, y = width * n // 12, height * ((n * 5) % 12) // 12
        draw.ellipse((x, y, x + width // 8, y + height // 8), fill=(40 * (n % 6), 200 - 15 * n, 90))
    # a patch of grain, so the file is megabytes (as a real upload is), not kilobytes
    grain = Image.effect_noise((width // 4, height // 4), 40).convert("RGB")
    im.paste(grain, (width // 3, height // 3))
    if mode == "RGBA":
        alpha = Image.radial_gradient("L").resize(size).point(lambda v: 255 - v // 2)
        im.putalpha(alpha)
    return im


def png_bytes(side: int, mode: str) -> bytes:
    out = io.BytesIO()
    picture((side, side), mode).save(out, "PNG", compress_level=6)
    return out.getvalue()


def webp_bytes(side: int) -> bytes:
    out = io.BytesIO()
    picture((side, side), "RGBA").save(out, "WEBP", quality=80)
    return out.getvalue()


def jpeg_bytes(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    picture(size, "RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


async def seed(db: Database) -> int:
    """A community and one staff member (staff photos need no image check)."""
    now = clock.now()
    async with db.session() as session:
        community = Community(name="压测社区", city="成都市", district="", address="", timezone="Asia/Shanghai")
        staff = User(openid="dev-bench-staff", display_name="社工", created_at=now, updated_at=now)
        session.add_all([community, staff])
        await session.flush()
        session.add(CommunityMembership(community_id=community.id, user_id=staff.id, role="staff"))
        await session.commit()
        return community.id


def start_worker(url: str, media_dir: str, env_extra: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LINLI_DATABASE_URL": url,
        "LINLI_JWT_SECRET": SECRET,
        "LINLI_MEDIA_DIR": media_dir,
        "LINLI_WECHAT_MODE": "fake",
        "LINLI_QUIET_HOURS": "",
        "LINLI_LOG_LEVEL": "WARNING",
        "LINLI_WORKER_POLL_SECONDS": "0.2",
        **env_extra,
    }
    return subprocess.Popen([str(ROOT / ".venv/bin/linli"), "worker"], env=env, cwd=ROOT)


async def started(db: Database, worker: subprocess.Popen[bytes], patience: float) -> None:
    """Wait until the worker has run its first jobs (the periodic ones it schedules on starting):
    everything is imported and connected, so its memory is what it holds at rest."""
    began = time.perf_counter()
    while True:
        async with db.session(write=False) as session:
            done = (await session.execute(select(func.count()).where(OutboxJob.status == "done"))).scalar_one()
        if done:
            break
        if worker.poll() is not None or time.perf_counter() - began > patience:
            raise RuntimeError("the worker did not start")
        await asyncio.sleep(0.2)
    await asyncio.sleep(1)


def memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    media_dir = tempfile.mkdtemp(prefix="linli-bench-media-")
    try:
        async with fresh_database() as url:
            return await measure(url, media_dir, args)
    finally:
        shutil.rmtree(media_dir, ignore_errors=True)


async def measure(url: str, media_dir: str, args: argparse.Namespace) -> dict[str, Any]:
    width, height = (int(n) for n in args.jpeg_size.split("x"))
    uploads: list[tuple[str, bytes, str]] = []
    if args.png:
        png = png_bytes(args.side, args.png_mode)
        uploads += [("poster.png", png, "image/png")] * args.png
    if args.jpeg:
        jpeg = jpeg_bytes((width, height))
        uploads += [("IMG_0001.jpg", jpeg, "image/jpeg")] * args.jpeg
    if args.webp:
        webp = webp_bytes(args.side)
        uploads += [("sticker.webp", webp, "image/webp")] * args.webp
    sizes = sorted({len(data) for _, data, _ in uploads})

    env_extra = {"LINLI_WORKER_CONCURRENCY": str(args.worker_concurrency)}
    if args.decode_concurrency is not None:
        env_extra["LINLI_MEDIA_DECODE_CONCURRENCY"] = str(args.decode_concurrency)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        jwt_secret=SECRET,
        media_dir=media_dir,
        wechat_mode="fake",
        quiet_hours="",
        embedded_worker=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    db: Database = app.state.db
    worker: subprocess.Popen[bytes] | None = None
    try:
        await upgrade(db.engine)
        community_id = await seed(db)
        worker = start_worker(url, media_dir, env_extra)
        await started(db, worker, args.timeout)
        at_rest = memory_mb(worker.pid, "VmHWM")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=120
        ) as client:
            token = (await client.post("/api/v1/auth/wechat/login", json={"code": "dev:bench-staff"})).json()[
                "access_token"
            ]
            headers = {"Authorization": f"Bearer {token}"}
            t0 = time.perf_counter()
            answers = await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/media",
                        files={"file": (name, data, content_type)},
                        data={"community_id": str(community_id)},
                        headers=headers,
                    )
                    for name, data, content_type in uploads
                )
            )
            uploaded = time.perf_counter() - t0
            for answer in answers:
                assert answer.status_code == 202, answer.text
        ready = None
        while ready is None:
            await asyncio.sleep(0.2)
            async with db.session(write=False) as session:
                waiting = (await session.execute(select(func.count()).where(Media.status == "processing"))).scalar_one()
            elapsed = time.perf_counter() - t0
            if waiting == 0:
                ready = elapsed
            elif elapsed > args.timeout:
                raise TimeoutError(f"after {elapsed:.0f} s: {waiting} photos still processing")
        peak = memory_mb(worker.pid, "VmHWM")
        async with db.session(write=False) as session:
            statuses = dict((await session.execute(select(Media.status, func.count()).group_by(Media.status))).all())
        return {
            "photos": f"{args.png} PNG {args.side}x{args.side} {args.png_mode} + {args.jpeg} JPEG {args.jpeg_size}"
            + (f" + {args.webp} WebP {args.side}x{args.side} RGBA" if args.webp else ""),
            "upload_bytes": sizes,
            "worker_concurrency": args.worker_concurrency,
            "decode_concurrency": args.decode_concurrency if args.decode_concurrency is not None else "default",
            "uploads_s": round(uploaded, 2),
            "all_ready_s": round(ready, 2),
            "worker_at_rest_mb": round(at_rest, 1),
            "worker_peak_rss_mb": round(peak, 1),
            "statuses": statuses,
        }
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        await shutdown(app)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--png", type=int, default=8, help="how many PNGs")
    parser.add_argument("--side", type=int, default=6300, help="the PNGs' width and height")
    parser.add_argument("--png-mode", choices=("RGB", "RGBA"), default="RGB")
    parser.add_argument("--jpeg", type=int, default=0, help="how many JPEGs")
    parser.add_argument("--jpeg-size", default="8400x4725", help="the JPEGs' WIDTHxHEIGHT")
    parser.add_argument("--webp", type=int, default=0, help="how many WebPs (--side × --side, lossy, with alpha)")
    parser.add_argument("--worker-concurrency", type=int, default=4, help="LINLI_WORKER_CONCURRENCY")
    parser.add_argument("--decode-concurrency", type=int, default=None, help="LINLI_MEDIA_DECODE_CONCURRENCY")
    parser.add_argument("--timeout", type=float, default=600)
    result = asyncio.run(run(parser.parse_args()))
    for key, value in result.items():
        print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
