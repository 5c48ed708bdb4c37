"""Synthetic bad inputs built in temporary folders from real or synthetic files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from conftest import require
from vascseg.cli import main
from vascseg.config import LoadConfig
from vascseg.errors import GeometryError, InputError, MemoryLimitError, VascsegError
from vascseg.io import find_series, load_series
from vascseg.io.synthetic import write_synthetic_series

SECRETS = ("Zebulon^Quixotic", "PID-98765-XQ", "19230407", "ACC-55511-ZZ")


@pytest.fixture
def series_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    arr = rng.integers(0, 1500, size=(8, 24, 20)).astype(np.int16)
    write_synthetic_series(tmp_path / "s", arr, spacing_mm=(2.0, 0.8, 0.9), origin_lps_mm=(-5, 10, 40))
    return tmp_path / "s"


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix == ".dcm")


def _by_position(folder: Path) -> list[Path]:
    return sorted(_files(folder), key=lambda p: float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]))


def test_synthetic_round_trip_ignores_file_names(series_dir):
    vol = load_series(series_dir)
    assert vol.shape == (8, 24, 20) and vol.spacing_mm == pytest.approx((2.0, 0.8, 0.9))
    assert vol.origin_lps_mm == pytest.approx((-5, 10, 40))
    first = pydicom.dcmread(_by_position(series_dir)[0])
    np.testing.assert_array_equal(vol.array[0], first.pixel_array.astype(np.int16) - 1024)


def test_non_dicom_and_truncated_files_skipped_and_listed(series_dir):
    (series_dir / "notes.txt").write_text("not an image\n")
    victim = _by_position(series_dir)[-1]
    data = victim.read_bytes()
    trunc = series_dir / "zz_truncated.dcm"
    trunc.write_bytes(data[: len(data) // 2])
    found = find_series(series_dir)
    assert {p.name for p in found.skipped} == {"notes.txt", "zz_truncated.dcm"}
    assert any("notes.txt" in n for n in found.notes) and any("truncated" in n for n in found.notes)
    assert load_series(series_dir).shape == (8, 24, 20)


def test_inconsistent_orientation(series_dir):
    f = _by_position(series_dir)[3]
    ds = pydicom.dcmread(f)
    a = np.radians(1.0)  # 1 degree about z: still grouped, but beyond orientation_atol
    ds.ImageOrientationPatient = [np.cos(a), np.sin(a), 0, -np.sin(a), np.cos(a), 0]
    ds.save_as(f)
    with pytest.raises(GeometryError, match="inconsistent orientation"):
        load_series(series_dir)


def test_duplicate_positions(series_dir):
    src = _by_position(series_dir)[2]
    ds = pydicom.dcmread(src)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(series_dir / "copy.dcm")
    vol = load_series(series_dir)  # identical duplicate: dropped with a warning
    assert vol.shape[0] == 8 and any("duplicate" in w for w in vol.warnings)
    arr = ds.pixel_array.copy()
    arr[0, 0] += 1
    ds.PixelData = arr.tobytes()
    ds.save_as(series_dir / "copy.dcm")
    with pytest.raises(GeometryError, match="different pixels") as err:
        load_series(series_dir)
    assert "copy.dcm" in str(err.value) and src.name in str(err.value)


def test_memory_cap_refuses_before_allocating(series_dir):
    with pytest.raises(MemoryLimitError, match="max_memory_gb"):
        load_series(series_dir, config=LoadConfig(max_memory_gb=1e-6))


def test_missing_path_and_nothing_loadable(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_series(tmp_path / "nope")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(InputError, match="No loadable"):
        load_series(tmp_path)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")}


def test_nothing_written_into_input(shared_data, tmp_path, capsys):
    roots = [require(shared_data / "dcm_qa_ct"), require(shared_data / "totalsegmentator")]
    before = [_snapshot(r) for r in roots]
    for r in roots:
        main(["info", str(r)])
        for s in find_series(r).series:
            try:
                load_series(r, series=s.id)
            except VascsegError:
                pass
    assert [_snapshot(r) for r in roots] == before
    capsys.readouterr()


def test_no_patient_data_in_messages_or_info(tmp_path, capsys):
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 100, size=(4, 8, 8)).astype(np.int16)
    folder = tmp_path / "phi"
    write_synthetic_series(folder, arr, patient_name=SECRETS[0], patient_id=SECRETS[1], description="phi test")
    for f in _files(folder):
        ds = pydicom.dcmread(f)
        ds.PatientBirthDate, ds.AccessionNumber = SECRETS[2], SECRETS[3]
        ds.save_as(f)
    # a second series in the same folder and a gap make errors that describe the series
    write_synthetic_series(folder / "b", arr, patient_name=SECRETS[0], patient_id=SECRETS[1])
    bad = _by_position(folder)[1]
    bad.unlink()
    texts = []
    for call in (lambda: load_series(folder), lambda: load_series(folder, series="ffff"),
                 lambda: load_series(folder, series=next(s.id for s in find_series(folder).series if s.problems))):
        with pytest.raises(VascsegError) as err:
            call()
        texts.append(str(err.value))
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr()
    texts += [out.out, out.err]
    joined = "\n".join(texts)
    assert "phi test" in joined
    for secret in SECRETS:
        assert secret not in joined


def test_cli_info(shared_data, capsys):
    folder = require(shared_data / "dcm_qa_nih" / "GE")
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if "MR" in ln]
    assert len(lines) == 4 and all("multi-volume (10 volumes" in ln for ln in lines)
    assert "shape(z,y,x)=15x64x64" in out and "note: skipped" in out
    assert "Test^Regression" not in out and "DEV" not in out.replace("DEVICE", "")


def test_cli_info_bad_path(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert "error" in err and "does not exist" in err


def test_read_only_input_is_fine(series_dir, tmp_path):
    ro = tmp_path / "ro"
    shutil.copytree(series_dir, ro)
    for p in [ro, *ro.iterdir()]:
        os.chmod(p, 0o555 if p.is_dir() else 0o444)
    try:
        assert load_series(ro).shape == (8, 24, 20)
    finally:
        for p in [ro, *ro.iterdir()]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)


@pytest.mark.parametrize("ci", ["true", ""])
def test_missing_requirements_skip_locally_fail_under_ci(monkeypatch, tmp_path, ci):
    from conftest import require_module, require_tool

    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    for call in (lambda: require(tmp_path / "absent"), lambda: require_module("vascseg_no_such_module"),
                 lambda: require_tool("vascseg-no-such-tool")):
        with pytest.raises(expected):
            call()


def _csa(tags: dict[str, list[str]]) -> bytes:
    """A minimal Siemens CSA2 header holding ``tags``."""
    import struct

    out = b"SV10\4\3\2\1" + struct.pack("<II", len(tags), 77)
    for name, values in tags.items():
        out += struct.pack("<64si4siii", name.encode(), 1, b"FD", 4, len(values), 77)
        for v in values:
            data = v.encode() + b"\0"
            out += struct.pack("<4i", len(data), len(data), 77, len(data)) + data + b"\0" * (-len(data) % 4)
    return out


@pytest.mark.parametrize("sign", [1, -1])
def test_mosaic_tiles_follow_the_csa_slice_normal(sign):
    from vascseg.io._mosaic import mosaic_layout, read_csa_tags, untile

    ds = pydicom.Dataset()
    ds.Rows, ds.Columns = 12, 12  # 3 x 3 grid of 4 x 4 tiles, 7 used
    ds.add_new((0x0029, 0x1010), "OB", _csa({"NumberOfImagesInMosaic": ["7"],
                                              "SliceNormalVector": ["0", "0", str(float(sign))]}))
    assert read_csa_tags(ds[0x0029, 0x1010].value)["NumberOfImagesInMosaic"] == ["7"]
    lay = mosaic_layout(ds, ipp_lps_mm=(-10.0, -20.0, 5.0), iop=(1, 0, 0, 0, 1, 0),
                        pixel_spacing_mm=(2.0, 3.0), slice_step_mm=2.5)
    assert (lay.n_tiles, lay.grid, lay.tile_rows, lay.tile_cols) == (7, 3, 4, 4)
    # tile 0 starts half the size difference (4 px) in from the mosaic corner, along rows and columns
    np.testing.assert_allclose(lay.positions_lps_mm[0], (-10 + 4 * 3.0, -20 + 4 * 2.0, 5.0))
    np.testing.assert_allclose(np.diff(lay.positions_lps_mm[:, 2]), sign * 2.5)
    mosaic = np.arange(144).reshape(12, 12)
    tiles = untile(mosaic, 7, 3)
    assert tiles.shape == (7, 4, 4)
    np.testing.assert_array_equal(tiles[4], mosaic[4:8, 4:8])
    np.testing.assert_array_equal(tiles[6], mosaic[8:12, 0:4])
