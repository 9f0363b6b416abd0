"""Real footage as scene folders (phase ``scenes``, split ``real``; docs/vision.md "Your own videos").

Each entry of params ``scenes.real`` names, per camera, a match video and a chessboard
calibration video (``file:`` sources, resolved by ``pipeutil.sources``), and one landmark file
``{cam_name: {landmark_name: [u, v]}}`` of clicked pitch landmarks (distorted pixels of the match
video; names from ``ball3d.pitch.landmarks()``). Materialising a scene re-encodes every video to
MJPG/AVI (``<cam>.avi``, ``calib_<cam>.avi``: the layout of rendered scenes, ``ball3d.records``),
copies the validated landmark file and writes a ``truth.json`` that holds only what is known:
no ball positions, no cameras (``"ground_truth": false``).

Rules: all match videos of a scene must have the same frame rate (or give ``fps``) and, after the
optional ``frames: [start, stop)`` cut, the same frame count; videos of different lengths are an
error, not silently trimmed (unequal lengths usually mean unsynchronised cameras). Each camera's
calibration video must have the size of its match video. Errors name the params key and the file.
"""
from __future__ import annotations

import difflib
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ball3d.pitch import landmarks
from ball3d.videoio import VideoInfo, iter_frames, probe_video, write_video
from pipeutil.io import PipelineError, atomic_path, write_json
from pipeutil.sources import parse_source, sha256_of

log = logging.getLogger(__name__)
SPLIT = "real"
MIN_LANDMARKS = 4  # PnP needs 4 points; calibrate.min_landmarks may ask for more
FPS_TOL = 0.01  # Hz: frame rates closer than this are the same


@dataclass(frozen=True)
class FileSource:
    where: str  # params key, e.g. "scenes.real[0].cameras.cam1.video"
    uri: str  # "file:<path>" (relative paths: from the working directory)
    sha256: str | None = None  # expected sha256 of the file; None = not checked

    def path(self) -> Path:
        """The local file, checked to exist (and to match ``sha256`` when given)."""
        src = parse_source(self.uri, where=self.where)
        if src.scheme != "file":
            raise PipelineError(f"{self.where}: real footage is read from 'file:<path>' sources, got {self.uri!r}")
        path = Path(src.spec).expanduser()
        if not path.is_file():
            raise PipelineError(f"{self.where}: file {path} not found")
        if self.sha256:
            digest = sha256_of(path)
            if digest != self.sha256.lower():
                raise PipelineError(f"{self.where}: {path} has sha256 {digest}, params.yaml expects {self.sha256}")
        return path

    def probe(self) -> VideoInfo:
        """Header of the video, errors naming the params key."""
        path = self.path()
        try:
            return probe_video(path)
        except PipelineError as exc:
            raise PipelineError(f"{self.where}: {exc}") from exc


@dataclass(frozen=True)
class RealCamera:
    name: str
    video: FileSource
    calib_video: FileSource


@dataclass(frozen=True)
class RealScene:
    where: str  # "scenes.real[i]"
    scene_id: str
    fps: float | None  # None = read from the videos
    frames: tuple[int, int] | None  # [start, stop) of every match video; None = all frames
    cameras: tuple[RealCamera, ...]
    landmarks_px: FileSource

    @property
    def camera_names(self) -> list[str]:
        return [c.name for c in self.cameras]


def parse_real(entry: dict, index: int) -> RealScene:
    """One ``scenes.real`` entry (already schema-checked) as a RealScene."""
    where = f"scenes.real[{index}]"
    frames = entry.get("frames")
    if frames is not None and not 0 <= int(frames[0]) < int(frames[1]):
        raise PipelineError(f"{where}.frames: need 0 <= start < stop, got {frames}")
    cams = []
    for name, c in (entry.get("cameras") or {}).items():
        sha = c.get("sha256") or {}
        cw = f"{where}.cameras.{name}"
        cams.append(RealCamera(name, FileSource(f"{cw}.video", c["video"], sha.get("video")),
                               FileSource(f"{cw}.calib_video", c["calib_video"], sha.get("calib_video"))))
    if not cams:
        raise PipelineError(f"{where}.cameras: a real scene needs at least one camera")
    return RealScene(where, str(entry["scene_id"]), None if entry.get("fps") is None else float(entry["fps"]),
                     None if frames is None else (int(frames[0]), int(frames[1])), tuple(cams),
                     FileSource(f"{where}.landmarks_px", entry["landmarks_px"], entry.get("landmarks_sha256")))


def real_scenes(cfg: dict) -> list[RealScene]:
    """Every real scene of the ``scenes`` params section (scene ids must be unique)."""
    scenes = [parse_real(e, i) for i, e in enumerate(cfg.get("real") or [])]
    ids = [s.scene_id for s in scenes]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise PipelineError(f"params.yaml: scenes.real: scene ids {dup} are used more than once")
    return scenes


def find_real(cfg: dict, scene_id: str) -> tuple[int, dict]:
    """(index, raw params entry) of real scene ``scene_id``."""
    for i, e in enumerate(cfg.get("real") or []):
        if str(e["scene_id"]) == scene_id:
            return i, e
    raise PipelineError(f"params.yaml: scenes.real has no scene {scene_id!r}")


def _job(scene: RealScene, src: FileSource, is_calib: bool, quality: int) -> dict:
    return {"scene": scene.where, "where": src.where, "source": src.uri, "sha256": src.sha256, "fps": scene.fps,
            "frames": None if is_calib or scene.frames is None else list(scene.frames), "quality": int(quality)}


def video_job(cfg: dict, scene_id: str, stem: str) -> dict:
    """What rule real_scene_video needs to write ``<stem>.avi`` of a real scene (stem cam or calib_cam)."""
    index, entry = find_real(cfg, scene_id)
    scene = parse_real(entry, index)
    for cam in scene.cameras:
        if stem in (cam.name, f"calib_{cam.name}"):
            is_calib = stem != cam.name
            return _job(scene, cam.calib_video if is_calib else cam.video, is_calib, cfg["video_quality"])
    raise PipelineError(f"{scene.where}: no camera video named {stem}.avi; cameras: {scene.camera_names}")


def _frames_in(src: FileSource, path: Path, frames: tuple[int, int] | None, scene: str) -> Iterator[np.ndarray]:
    start, stop = frames if frames is not None else (0, None)
    i = -1
    try:
        for i, frame in iter_frames(path):
            if stop is not None and i >= stop:
                return
            if i >= start:
                yield frame
    except PipelineError as exc:
        raise PipelineError(f"{src.where}: {exc}") from exc
    if stop is not None and i + 1 < stop:
        raise PipelineError(f"{src.where}: {path} has {i + 1} frames, but {scene}.frames ends at {stop}")


def import_video(job: dict, out_path: str | Path) -> dict:
    """Decode one source video (frame range ``job['frames']``) and write it as MJPG/AVI, atomically."""
    src = FileSource(job["where"], job["source"], job.get("sha256"))
    info = src.probe()
    fps = job.get("fps") or info.fps
    if not (math.isfinite(fps) and fps > 0):
        raise PipelineError(f"{src.where}: {info.path} has no readable frame rate; set {job['scene']}.fps")
    frames = tuple(job["frames"]) if job.get("frames") else None
    n = write_video(out_path, _frames_in(src, Path(info.path), frames, job["scene"]), fps, int(job["quality"]))
    log.info("%s: %s -> %s (%d frames, %dx%d, %.3f fps)", src.where, info.path, out_path, n, info.width,
             info.height, fps)
    return {"frames": n, "fps": fps, "width": info.width, "height": info.height}


def check_videos(scene: RealScene, infos: dict[str, tuple[VideoInfo, VideoInfo]], counts: dict[str, int]) -> float:
    """Same frame rate (unless fps is given) and frame count over cameras, calib size = video size.

    ``infos``: camera -> (video, calibration video); ``counts``: camera -> frames of its match video
    (after the frame range). Returns the scene frame rate.
    """
    cams = {c.name: c for c in scene.cameras}
    for name, (vid, cal) in infos.items():
        if (vid.width, vid.height) != (cal.width, cal.height):
            raise PipelineError(f"{cams[name].calib_video.where}: {cal.path} is {cal.width}x{cal.height} but "
                                f"{cams[name].video.where} ({vid.path}) is {vid.width}x{vid.height}")
    rates = {cams[n].video.where: vid.fps for n, (vid, _) in infos.items()}
    bad = [k for k, r in rates.items() if not (math.isfinite(r) and r > 0)]
    if scene.fps is None and bad:
        raise PipelineError(f"{bad[0]}: the video has no readable frame rate; set {scene.where}.fps")
    if scene.fps is None and max(rates.values()) - min(rates.values()) > FPS_TOL:
        raise PipelineError(f"{scene.where}: the cameras' videos have different frame rates {rates}; "
                            f"re-time them or set {scene.where}.fps")
    by_key = {cams[n].video.where: k for n, k in counts.items()}
    if len(set(by_key.values())) > 1:
        raise PipelineError(f"{scene.where}: the cameras' videos have different frame counts {by_key}; synchronise "
                            f"them or cut a common range with {scene.where}.frames")
    return scene.fps if scene.fps is not None else float(np.median(list(rates.values())))


def check_landmarks(scene: RealScene, sizes: dict[str, tuple[int, int]]) -> dict:
    """The landmark file, validated: known cameras and landmark names, >= 4 pixels per camera inside the image."""
    src = scene.landmarks_px
    path = src.path()
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{src.where}: {path} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise PipelineError(f"{src.where}: {path} must be {{camera: {{landmark: [u, v]}}}}")
    unknown = sorted(set(data) - set(sizes))
    if unknown:
        raise PipelineError(f"{src.where}: {path} names cameras {unknown} that are not in {scene.where}.cameras "
                            f"{sorted(sizes)}")
    known = landmarks().names
    out = {}
    for cam, (w, h) in sizes.items():
        pts = data.get(cam, {})
        for name, uv in pts.items():
            if name not in known:
                hint = difflib.get_close_matches(name, known, n=1)
                raise PipelineError(f"{src.where}: {path}: camera {cam!r}: unknown landmark {name!r}"
                                    + (f" (did you mean {hint[0]!r}?)" if hint else "") + f"; known: {known}")
            ok = isinstance(uv, list) and len(uv) == 2 and all(isinstance(x, (int, float)) for x in uv)
            if not ok or not (0 <= uv[0] < w and 0 <= uv[1] < h):
                raise PipelineError(f"{src.where}: {path}: camera {cam!r} landmark {name!r}: {uv!r} is not a pixel "
                                    f"[u, v] inside the {w}x{h} image")
        if len(pts) < MIN_LANDMARKS:
            raise PipelineError(f"{src.where}: {path}: camera {cam!r} has {len(pts)} landmarks; PnP needs at least "
                                f"{MIN_LANDMARKS} (calibrate.min_landmarks may ask for more)")
        out[cam] = {n: [float(pts[n][0]), float(pts[n][1])] for n in sorted(pts)}
    return out


def scene_truth(scene: RealScene, fps: float, n_frames: int, infos: dict[str, tuple[VideoInfo, VideoInfo]]) -> dict:
    """truth.json of a real scene: only what is known (contract in ball3d.records)."""
    cams = {c.name: c for c in scene.cameras}
    per_camera = {n: {"video": f"{n}.avi", "calib_video": f"calib_{n}.avi", "width": vid.width, "height": vid.height,
                      "calib_frames": cal.n_frames, "source": cams[n].video.uri,
                      "calib_source": cams[n].calib_video.uri} for n, (vid, cal) in infos.items()}
    return {"scene_id": scene.scene_id, "split": SPLIT, "ground_truth": False, "fps": fps, "n_frames": n_frames,
            "source_frames": list(scene.frames) if scene.frames else [0, n_frames], "per_camera": per_camera,
            "landmarks_px": "landmarks_px.json", "landmarks_source": scene.landmarks_px.uri}


def finish_real_scene(scene: RealScene, scene_dir: str | Path, truth_out: str | Path,
                      landmarks_out: str | Path) -> dict:
    """Check the imported videos of ``scene_dir`` together, write landmarks_px.json then truth.json."""
    scene_dir = Path(scene_dir)
    infos = {}
    for c in scene.cameras:
        vid, cal = (probe_video(scene_dir / f"{p}{c.name}.avi") for p in ("", "calib_"))
        infos[c.name] = (vid, cal)
    fps = check_videos(scene, infos, {n: v.n_frames for n, (v, _) in infos.items()})
    pixels = check_landmarks(scene, {n: (v.width, v.height) for n, (v, _) in infos.items()})
    truth = scene_truth(scene, fps, next(iter(infos.values()))[0].n_frames, infos)
    write_json(landmarks_out, pixels)
    write_json(truth_out, truth)
    return truth


def check_sources(scene: RealScene) -> None:
    """Every check that needs no decoding, on the source files (before any re-encoding)."""
    infos = {c.name: (c.video.probe(), c.calib_video.probe()) for c in scene.cameras}
    counts = {}
    for c in scene.cameras:
        n = infos[c.name][0].n_frames
        if scene.frames is not None and n > 0 and n < scene.frames[1]:
            raise PipelineError(f"{c.video.where}: {infos[c.name][0].path} has {n} frames; {scene.where}.frames "
                                f"asks for frames up to {scene.frames[1]}")
        counts[c.name] = scene.frames[1] - scene.frames[0] if scene.frames else n
    check_videos(scene, infos, counts)
    check_landmarks(scene, {n: (v.width, v.height) for n, (v, _) in infos.items()})


def materialise_real_scene(scene: RealScene, out_dir: str | Path, quality: int = 95) -> dict:
    """The whole scene folder at ``out_dir`` in one go (atomically): checks, videos, landmarks, truth."""
    check_sources(scene)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for c in scene.cameras:
            import_video(_job(scene, c.video, False, quality), tmp / f"{c.name}.avi")
            import_video(_job(scene, c.calib_video, True, quality), tmp / f"calib_{c.name}.avi")
        truth = finish_real_scene(scene, tmp, tmp / "truth.json", tmp / "landmarks_px.json")
    log.info("real scene %s: %d cameras x %d frames", scene.scene_id, len(scene.cameras), truth["n_frames"])
    return truth
