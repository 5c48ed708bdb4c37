"""``write_phantom``: DICOM series + truth on disk, read back by vascseg.io, SimpleITK and
pydicom in strict mode; the output folder rules; the shipped sample data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vascseg.errors import InputError
from vascseg.io import find_series, load_series
from vascseg.phantom import (
    PhantomOutputError,
    PhantomSpec,
    generate_phantom,
    is_phantom_output,
    write_phantom,
)

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "sample_data"
SAMPLE_CASES = ("ct_continuous_left", "ct_discontinuous_right", "mr_continuous_ovarian_left",
                "ct_may_thurner")
COARSE_MM = (3.0, 2.0, 2.0)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A CT (RLE) and an MR (uncompressed) phantom, generated once and written."""
    out = {}
    for key, spec, compression in (
        ("ct", PhantomSpec(seed=5, spacing_zyx_mm=COARSE_MM), "rle"),
        ("mr", PhantomSpec(seed=6, modality="MR", pattern="discontinuous",
                           route="uterine-iliac-caval-right", spacing_zyx_mm=COARSE_MM), "none"),
    ):
        p = generate_phantom(spec)
        folder = write_phantom(p, tmp_path_factory.mktemp(key) / "case", compression=compression)
        out[key] = (p, folder)
    return out


@pytest.fixture(params=["ct", "mr"])
def case(request, written):
    return written[request.param]


def test_layout(case):
    _, folder = case
    assert sorted(p.name for p in folder.iterdir()) == ["dicom", "truth"]
    assert sorted(p.name for p in (folder / "truth").iterdir()) == [
        "truth.json", "truth_arteries.nii.gz", "truth_defects.nii.gz", "truth_veins.nii.gz"]
    assert is_phantom_output(folder)


def test_roundtrip_vascseg_io(case):
    p, folder = case
    vol = load_series(folder / "dicom")
    assert vol.shape == p.volume.shape
    assert np.abs(vol.affine - p.volume.affine).max() <= 1e-4
    assert np.array_equal(vol.array, p.volume.array)
    assert vol.modality == p.volume.modality


def test_roundtrip_simpleitk(case):
    import SimpleITK as sitk

    p, folder = case
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder / "dicom")))
    img = reader.Execute()
    ref = p.volume.to_sitk()
    assert np.allclose(img.GetOrigin(), ref.GetOrigin(), atol=1e-4)
    assert np.allclose(img.GetSpacing(), ref.GetSpacing(), atol=1e-4)
    assert np.allclose(img.GetDirection(), ref.GetDirection(), atol=1e-6)
    assert np.array_equal(sitk.GetArrayFromImage(img).astype(np.int32),
                          p.volume.array.astype(np.int32))


def test_truth_niftis_on_the_image_grid(case):
    p, folder = case
    for name, arr in (("veins", p.veins), ("defects", p.defects), ("arteries", p.arteries)):
        vol = load_series(folder / "truth" / f"truth_{name}.nii.gz")
        assert np.abs(vol.affine - p.volume.affine).max() <= 1e-4
        assert np.array_equal(vol.array, arr.astype(vol.array.dtype))


def test_truth_json(case):
    p, folder = case
    truth = json.loads((folder / "truth" / "truth.json").read_text())
    assert truth["generator"] == "vascseg.phantom"
    assert truth["routes"] == json.loads(json.dumps(p.truth["routes"]))
    assert truth["files"]["n_dicom_files"] == p.volume.shape[0]
    info = find_series(folder / "dicom").series
    assert len(info) == 1 and info[0].uid_sha256 == truth["files"]["series_uid_sha256"]


def test_dicom_headers_strict(case, pydicom_strict):
    import pydicom

    p, folder = case
    files = sorted((folder / "dicom").iterdir())
    assert len(files) == p.volume.shape[0]
    dz, dy, dx = p.volume.spacing_mm
    uids = set()
    for k in (0, len(files) // 2, len(files) - 1):
        ds = pydicom.dcmread(files[k])
        assert ds.pixel_array.shape == p.volume.shape[1:]
        uids.add(ds.SOPInstanceUID)
        assert ds.SOPClassUID == ("1.2.840.10008.5.1.4.1.1.2" if p.spec.modality == "CT"
                                  else "1.2.840.10008.5.1.4.1.1.4")
        assert ds.InstanceNumber == k + 1
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert [float(v) for v in ds.PixelSpacing] == pytest.approx([dy, dx])
        assert float(ds.SliceThickness) == pytest.approx(dz)
        assert float(ds.SpacingBetweenSlices) == pytest.approx(dz)
        z = p.volume.origin_lps_mm[2] + k * dz
        assert [float(v) for v in ds.ImagePositionPatient] == pytest.approx(
            [*p.volume.origin_lps_mm[:2], z], abs=1e-4)
        assert float(ds.SliceLocation) == pytest.approx(z, abs=1e-4)
        assert str(ds.PatientName) == "Phantom^Vascseg" and ds.PatientID == f"PHANTOM-{p.spec.seed}"
        assert ds.PatientIdentityRemoved == "YES"
        assert float(ds.WindowWidth) > 0
        if p.spec.modality == "CT":
            assert float(ds.RescaleIntercept) == -1024 and float(ds.RescaleSlope) == 1
            assert ds.KVP and ds.ConvolutionKernel
        else:
            assert float(ds.MagneticFieldStrength) > 0 and float(ds.EchoTime) > 0
            assert float(ds.RepetitionTime) > 0
    assert len(uids) == 3


@pytest.mark.parametrize("compression", ["rle", "jpeg2000", "none"])
def test_series_written_in_strict_mode(written, tmp_path, pydicom_strict, compression):
    import pydicom

    from vascseg.geometry import Volume
    from vascseg.phantom._dicom import write_dicom_series

    p, _ = written["mr"]
    vol = Volume(p.volume.array[:3].copy(), spacing_mm=p.volume.spacing_mm,
                 origin_lps_mm=p.volume.origin_lps_mm, direction=p.volume.direction,
                 modality="MR", description=p.volume.description)
    files = write_dicom_series(vol, p.spec, tmp_path, compression=compression)
    for k, f in enumerate(files):
        assert np.array_equal(pydicom.dcmread(f).pixel_array, vol.array[k])


def test_written_files_are_deterministic(written, tmp_path):
    p, folder = written["ct"]
    again = write_phantom(p, tmp_path / "again")
    for name in ("IM00001.dcm", "IM00040.dcm"):
        assert (again / "dicom" / name).read_bytes() == (folder / "dicom" / name).read_bytes()


def test_uids_depend_on_the_spec():
    from vascseg.phantom._dicom import series_uids

    a, b = (generate_phantom(PhantomSpec(seed=s, spacing_zyx_mm=(6.0, 4.0, 4.0))) for s in (7, 8))
    ua, ub = series_uids(a.spec, a.volume), series_uids(b.spec, b.volume)
    assert ua == series_uids(a.spec, a.volume)
    assert ua["series"] != ub["series"] and ua["study"] != ub["study"]


def test_refuses_foreign_folder_and_replaces_previous_output(written, tmp_path):
    p, _ = written["ct"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(PhantomOutputError, match="not empty") as info:
        write_phantom(p, foreign)
    assert isinstance(info.value, InputError)
    assert sorted(x.name for x in foreign.iterdir()) == ["notes.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(PhantomOutputError, match="not a folder"):
        write_phantom(p, a_file)
    out = write_phantom(p, tmp_path / "prev")
    (out / "dicom" / "IM99999.dcm").write_bytes(b"stale")
    write_phantom(p, out)  # a previous phantom output is replaced, stale files go
    assert not (out / "dicom" / "IM99999.dcm").exists()
    assert sorted(x.name for x in out.iterdir()) == ["dicom", "truth"]


def test_cli_phantom(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    cmd = [sys.executable, "-m", "vascseg.cli", "phantom", str(tmp_path / "cli"), "--pattern",
           "none", "--route", "iliac-caval-left", "--modality", "MR", "--seed", "9",
           "--spacing", "6", "4", "4", "--stenosis", "50", "--occlusion"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    truth = json.loads((tmp_path / "cli" / "truth" / "truth.json").read_text())
    assert truth["spec"] == {"pattern": "none", "route": "iliac-caval-left", "modality": "MR",
                             "seed": 9, "shape_zyx": None, "spacing_zyx_mm": [6.0, 4.0, 4.0],
                             "stenosis_pct": 50.0, "occlusion": True}
    bad = subprocess.run(cmd[:4] + [str(tmp_path / "x"), "--route", "hepatic"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert bad.returncode == 1 and "unknown route" in bad.stderr


# ----------------------------------------------------------------------------- sample data
def _sample(case_name: str) -> Path:
    folder = SAMPLE_DATA / case_name
    if not folder.is_dir():
        pytest.skip(f"{folder} not made (python scripts/make_sample_data.py)")
    return folder


def test_sample_data_small():
    if not SAMPLE_DATA.is_dir():
        pytest.skip("sample_data not made")
    total = sum(f.stat().st_size for f in SAMPLE_DATA.rglob("*") if f.is_file())
    assert total < 20 * 2**20


@pytest.mark.parametrize("case_name", SAMPLE_CASES)
def test_sample_case(case_name):
    folder = _sample(case_name)
    assert is_phantom_output(folder)
    truth = json.loads((folder / "truth" / "truth.json").read_text())
    assert truth["seed"] in range(10)  # sample data use development seeds only
    dicom = find_series(folder / "dicom").series
    assert len(dicom) == 1 and dicom[0].n_frames == truth["grid"]["shape_zyx"][0]
    route = truth["routes"][truth["route"]]
    assert route["pattern"] == truth["pattern"]


def test_sample_case_folder_lists_one_series():
    folder = _sample("ct_continuous_left")
    assert len(find_series(folder).series) == 1
