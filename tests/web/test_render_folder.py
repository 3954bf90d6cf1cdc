"""The gallery's render cache folder: private to the service's user, or refused.

Its files are served as thumbnails, so a folder another user can write to, a symlink or
someone else's folder must never be used; the files are named by a keyed digest.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time

import pytest

from imgstats.errors import InvalidOption
from imgstats.web import create_app
from imgstats.web._thumbs import RenderCache, default_folder, private_folder

KEY = ("store", "IMG_1.jpg", "123-456", "thumb", 256, 75)


def test_a_missing_folder_is_created_private(tmp_path):
    folder = private_folder(tmp_path / "a" / "renders")
    assert stat.S_IMODE(os.lstat(folder).st_mode) == 0o700


def test_a_folder_others_may_write_is_refused(tmp_path):
    planted = tmp_path / "renders"
    planted.mkdir()
    planted.chmod(0o777)
    with pytest.raises(InvalidOption, match="writable by other users"):
        RenderCache(1 << 20, planted)
    with pytest.raises(InvalidOption, match="writable by other users"):
        create_app({"WARMUP": False, "GALLERY_CACHE_DIR": str(planted)})


def test_a_symlinked_folder_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "renders"
    link.symlink_to(real)
    with pytest.raises(InvalidOption, match="symbolic link"):
        private_folder(link)


def test_a_file_is_refused(tmp_path):
    (tmp_path / "renders").write_bytes(b"")
    with pytest.raises(InvalidOption, match="not a directory"):
        private_folder(tmp_path / "renders")


def test_a_folder_others_may_only_read_is_made_private(tmp_path):
    folder = tmp_path / "renders"
    folder.mkdir()
    folder.chmod(0o755)
    private_folder(folder)
    assert stat.S_IMODE(os.lstat(folder).st_mode) == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="making a folder of another user needs root")
def test_another_users_folder_is_refused(tmp_path):
    folder = tmp_path / "renders"
    folder.mkdir(mode=0o700)
    os.chown(folder, 12345, 12345)
    with pytest.raises(InvalidOption, match="another user"):
        private_folder(folder)


def test_the_default_folder_is_private(monkeypatch, tmp_path):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    folder = default_folder()
    assert folder.name == f"imgstats-gallery-{os.geteuid()}"
    assert stat.S_IMODE(os.lstat(folder).st_mode) == 0o700


def test_a_planted_default_folder_is_not_used(monkeypatch, tmp_path):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    planted = tmp_path / f"imgstats-gallery-{os.geteuid()}"
    planted.mkdir()
    planted.chmod(0o777)
    folder = default_folder()
    assert folder != planted and stat.S_IMODE(os.lstat(folder).st_mode) == 0o700


def test_files_are_named_by_a_keyed_digest(tmp_path):
    """A file planted at the unkeyed sha256 of the key (as the issue did) is never read."""
    folder = tmp_path / "renders"
    cache = RenderCache(0, folder)
    digest = hashlib.sha256(repr(KEY).encode()).hexdigest()
    (folder / digest[:2]).mkdir(mode=0o700)
    (folder / digest[:2] / f"{digest}.webp").write_bytes(b"planted")
    assert cache.get_or_render(KEY, lambda: b"rendered") == b"rendered"
    # another process sharing the folder finds the same key, and reads the rendering
    other = RenderCache(0, folder)
    assert other.get_or_render(KEY, lambda: b"again") == b"rendered"
    # with a CACHE_KEY the names differ again
    keyed = RenderCache(0, folder, secret="a secret of sixteen+")
    assert keyed.get_or_render(KEY, lambda: b"keyed") == b"keyed"


def _leftovers(folder) -> list[str]:
    """Every file of the folder but its key file and renderings."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and p.name != "key" and p.suffix != ".webp" and "locks" not in p.parts
    )


def test_a_write_the_disk_refuses_leaves_no_partial_file(tmp_path):
    """A full disk (here: a file size limit, which fails the write as ENOSPC does) left each
    rendering's partial temporary file behind, which :meth:`RenderCache.prune` never sees
    (it prunes ``.webp`` files): the folder stayed full for good."""
    import resource
    import signal

    folder = tmp_path / "renders"
    cache = RenderCache(1 << 20, folder)
    data = os.urandom(64 << 10)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not a killed process
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 10, hard))
        assert cache.get_or_render(KEY, lambda: data) == data  # answered all the same
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert _leftovers(folder) == []


def test_a_rename_that_fails_leaves_no_temporary_file(tmp_path):
    folder = tmp_path / "renders"
    cache = RenderCache(1 << 20, folder)
    target = cache._path(KEY)
    (target / "x").mkdir(parents=True)  # a folder where the rendering goes: the rename fails
    assert cache.get_or_render(KEY, lambda: b"webp") == b"webp"
    assert _leftovers(folder) == []


def test_prune_removes_what_a_killed_writer_left_and_only_that(tmp_path):
    """A worker killed between the temporary file and its rename (gunicorn's timeout kills
    with SIGKILL) left the file for good: prune() counted ``.webp`` files only."""
    folder = tmp_path / "renders"
    cache = RenderCache(1 << 20, folder)
    (folder / "ab").mkdir()
    old, fresh = folder / "ab" / "tmpold", folder / "ab" / "tmpfresh"
    old.write_bytes(b"x" * 100)
    fresh.write_bytes(b"x" * 100)  # another worker's write in progress
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    cache.get_or_render(KEY, lambda: b"webp")
    cache.prune()
    assert not old.exists() and fresh.exists()
    assert cache._path(KEY).read_bytes() == b"webp"  # the renderings are untouched
