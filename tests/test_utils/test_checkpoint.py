# Copyright (c) hvpt_mm authors. All rights reserved.
"""Runner checkpoints load with torch's safe loader; other objects do not."""
import pickle
import subprocess
import sys
import textwrap
from collections import Counter, OrderedDict

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

from hvpt_mm.utils.checkpoint import SAFE_LOADING

pytestmark = pytest.mark.skipif(
    not SAFE_LOADING, reason='torch < 2.5: no allow-list for the safe loader')


def runner_like(extra=None):
    """What mmengine's runner writes besides tensors (see the module doc)."""
    buf = HistoryBuffer()
    buf.update(1.5)
    buf.update(2.5)
    ckpt = dict(
        meta=dict(epoch=1, iter=3, seed=7, eta=np.float64(0.25)),
        state_dict=OrderedDict(w=torch.ones(2)),
        message_hub=dict(
            log_scalars=OrderedDict(loss=buf),
            runtime_info=dict(eta=np.float64(12.5), n=np.int64(3))),
        param_schedulers=[dict(milestones=Counter([8, 11]))])
    ckpt.update(extra or {})
    return ckpt


class Foreign:
    """Any class outside the allow-list."""


class GetattrOf:
    """Pickles as ``getattr(obj, name)``, as HistoryBuffer's methods do."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return getattr, (self.obj, self.name)


def test_runner_objects_load_safely(tmp_path):
    path = str(tmp_path / 'epoch_1.pth')
    torch.save(runner_like(), path)
    for ckpt in (torch.load(path, weights_only=True),
                 _load_checkpoint(path, map_location='cpu')):
        buf = ckpt['message_hub']['log_scalars']['loss']
        assert isinstance(buf, HistoryBuffer)
        assert buf.mean() == pytest.approx((1.5 + 2.5) / 2)
        assert buf.statistics('current') == 2.5
        assert ckpt['message_hub']['runtime_info']['n'] == 3
        assert ckpt['meta']['eta'] == 0.25
        assert ckpt['param_schedulers'][0]['milestones'] == Counter([8, 11])
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []


@pytest.mark.parametrize('extra,named', [
    (dict(meta=dict(obj=Foreign())), 'Foreign'),
    # getattr stands for HistoryBuffer's statistics methods only.
    (dict(meta=dict(obj=GetattrOf(HistoryBuffer, 'update'))), 'update'),
    (dict(meta=dict(obj=GetattrOf(np.ndarray, 'tofile'))), 'tofile'),
    # Object arrays can carry anything: refused.
    (dict(meta=dict(obj=np.array([Foreign()], dtype=object))), 'Object'),
])
def test_other_objects_are_refused_naming_the_file(tmp_path, extra, named):
    path = str(tmp_path / 'suspect.pth')
    torch.save(runner_like(extra), path)
    with pytest.raises(pickle.UnpicklingError) as e:
        _load_checkpoint(path, map_location='cpu')
    msg = str(e.value)
    assert path in msg and named in msg
    assert 'weights_only=False' in msg
    # torch.load itself refuses it too.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_tensor_only_files(tmp_path):
    path = str(tmp_path / 'weights.pth')
    torch.save(dict(state_dict=dict(w=torch.zeros(1))), path)
    assert _load_checkpoint(path, map_location='cpu')['state_dict']['w'] == 0


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


def test_registered_on_import_only(tmp_path):
    """A fresh interpreter: refused before ``import hvpt_mm``, loaded after;
    a config naming it in ``custom_imports`` is enough."""
    path = str(tmp_path / 'epoch_1.pth')
    torch.save(runner_like(), path)
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("custom_imports = dict(imports=['hvpt_mm'], "
                   'allow_failed_imports=False)\n')
    script = textwrap.dedent(f'''
        import pickle, torch
        try:
            torch.load({path!r}, weights_only=True)
            raise SystemExit('loaded without hvpt_mm')
        except pickle.UnpicklingError:
            pass
        from mmengine.config import Config
        Config.fromfile({str(cfg)!r})
        ckpt = torch.load({path!r}, weights_only=True)
        print(ckpt['message_hub']['log_scalars']['loss'].mean())
    ''')
    out = subprocess.run([sys.executable, '-c', script], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == '2.0'


def test_deprecated_trust_hook_still_builds():
    """Older configs list the hook: it builds, does nothing, and says so
    once, as a warning naming itself (the bugs: a silent no-op, so nobody
    removes it; or one that still needs a runner)."""
    import logging

    from mmengine.logging import MMLogger
    from mmpretrain.registry import HOOKS

    class Records(logging.Handler):

        def __init__(self):
            super().__init__()
            self.records = []

        def emit(self, record):
            self.records.append(record)

    hook = HOOKS.build(dict(type='HVPTTrustCheckpointHook'))
    logger = MMLogger.get_current_instance()
    records = Records()
    logger.addHandler(records)
    try:
        hook.before_run(None)
    finally:
        logger.removeHandler(records)
    assert [(r.levelno, r.getMessage()) for r in records.records] == [
        (logging.WARNING, 'HVPTTrustCheckpointHook is no longer needed and '
         'does nothing; remove it from custom_hooks')]
