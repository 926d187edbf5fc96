"""The benchmark records' provenance: which commit, and whether code differed from it."""
import subprocess


def test_a_record_is_dirty_only_when_code_changed(load_bench, tmp_path):
    load_bench  # puts bench/ on sys.path
    import _harness as harness

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       cwd=tmp_path, check=True, capture_output=True)

    files = {"bench/results/run.json": "{}", "bench/bench_x.py": "", "docs/page.md": "",
             "README.md": "", "polyzoo/model.py": ""}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "x")
    assert not harness._commit(tmp_path).endswith("+dirty")
    for name in ("bench/results/run.json", "docs/page.md", "README.md"):  # what a run rewrites
        (tmp_path / name).write_text("changed")
    assert not harness._commit(tmp_path).endswith("+dirty")
    for name in ("polyzoo/model.py", "bench/bench_x.py"):  # what it measures
        (tmp_path / name).write_text("changed")
        assert harness._commit(tmp_path).endswith("+dirty"), name
        git("checkout", "-q", name)
