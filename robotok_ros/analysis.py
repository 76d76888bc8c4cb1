"""
Compare action tokenizers on one dataset: tokens per second of motion vs error.

Each tokenizer configuration is fitted on training episodes and measured on
held-out ones, on back-to-back chunks as a policy would emit them (chunks of
one step for per-step tokenizers): tokens per second of motion (mean tokens per
chunk x control rate / chunk steps), reconstruction RMSE and max error per
dimension in physical units, decode failures (an exception, or not a finite
chunk of the right shape), clips, and how much of the vocabulary (per level,
for VQ codebooks, with perplexity) the held-out data uses.

Tokenizers: RT-2 uniform bins (Brohan et al., 2023, arXiv:2307.15818), RT-1
(arXiv:2212.06817), OpenVLA (Kim et al., 2024, arXiv:2406.09246), FAST DCT+BPE
(Pertsch et al., 2025, arXiv:2501.09747), VQ-VAE chunk codebooks (van den Oord
et al., 2017, arXiv:1711.00937; VQ-BeT, Lee et al., 2024, arXiv:2403.03181).
"""

import sys
import time

import numpy as np
from robotok_ros import checks
# The specs moved to analysis_specs.py; these names stay importable from here.
from robotok_ros.analysis_specs import parse_spec, parse_specs, TokenizerSpec  # noqa: F401
from robotok_ros.errors import ConfigError, RobotokError
from robotok_ros.robot_profile import LINEAR_NAMES

DEFAULT_SPECS = ('uniform:256', 'uniform:256:ranges=profile', 'quantile:256', 'openvla',
                 'fast:H=10:scale=10', 'fast:H=10:scale=40', 'vq:K=8:C=64:R=2')
BATCH = 2048


def position_dims(profile):
    """Return the indices of the translation dims (dx, dy, dz; else unit m; else not gripper)."""
    for pick in (lambda d: d.name in LINEAR_NAMES, lambda d: d.unit == 'm',
                 lambda d: d.name != profile.gripper_name):
        index = [i for i, d in enumerate(profile.dimensions) if pick(d)]
        if index:
            return index
    return list(range(profile.dim))


def _decode_each(tok, ids, chunks):
    """Decode chunk by chunk with ``decode_chunk`` (the nodes' path): ``(out, failed mask)``."""
    out, failed = np.zeros_like(chunks), np.zeros(len(chunks), dtype=bool)
    for i, (chunk, seq) in enumerate(zip(chunks, ids)):
        try:
            rec = np.asarray(tok.decode_chunk(seq), dtype=np.float64)
        except Exception:  # noqa: B902 - any failure to decode is what is counted here
            failed[i] = True
            continue
        if rec.shape != chunk.shape or not np.isfinite(rec).all():
            failed[i] = True
            continue
        out[i] = rec
    return out, failed


def _decode_batch(tok, ids, chunks):
    """Decode per-step ids in one call; fall back to one chunk at a time if that fails."""
    try:
        out = np.asarray(tok.decode(ids), dtype=np.float64)
    except Exception:  # noqa: B902 - counted per chunk below
        out = None
    if out is not None and out.shape == chunks.shape:
        failed = ~np.isfinite(out).all(axis=(1, 2))
        return np.where(failed[:, None, None], 0.0, out), failed
    return _decode_each(tok, ids, chunks)


def chunk_metrics(tok, episodes, progress=False, stride=None):
    """
    Measure ``tok`` on back-to-back chunks of ``episodes``; return a JSON-ready dict.

    ``stride=1`` measures every window instead (as a VQ fit trains on them);
    ``progress``: a tqdm bar on stderr when it is a terminal.

    Chunks are ``chunk_steps`` long (1 for per-step tokenizers); a tail shorter
    than a chunk is left out (counted: ``tail_steps_not_measured`` of
    ``steps``), an episode shorter than one is padded by holding its last
    action.  Decode failures are chunks whose decode raised or did not
    give a finite ``(steps, D)`` array; they are left out of the errors.
    """
    from robotok_ros.tokenizers.chunking import sliding_chunks
    from tqdm import tqdm
    steps, dims, profile = tok.chunk_steps, tok.dim, tok.profile
    chunks = sliding_chunks(episodes, steps, stride=stride or steps)
    n, per_step = len(chunks), tok.capabilities.per_step
    lengths, sq_err = np.zeros(n, dtype=np.int64), np.zeros(dims)
    max_err, failures, seen = np.zeros(dims), 0, set()
    clips = np.zeros(dims, np.int64)
    coeff_clips = np.zeros(dims, np.int64) if hasattr(tok, 'last_coeff_clip_counts') else None
    fixes0 = getattr(tok, 'length_fixes', 0)
    shape = tok.codebook_shape()  # (levels, codes) of a codebook tokenizer
    levels = [] if shape is None else [np.zeros(shape[1], np.int64) for _ in range(shape[0])]
    for start in tqdm(range(0, n, BATCH), desc='measure', unit='batch',
                      disable=None if progress else True):
        batch = chunks[start:start + BATCH]
        ids = tok.encode(batch)
        clips += tok.last_clip_counts
        if coeff_clips is not None:
            coeff_clips += tok.last_coeff_clip_counts
        if isinstance(ids, np.ndarray):
            lengths[start:start + len(batch)] = ids[0].size
            seen.update(np.unique(ids).tolist())
        else:  # FAST: one array per chunk, lengths differ
            lengths[start:start + len(batch)] = [len(i) for i in ids]
            seen.update(np.unique(np.concatenate(ids)).tolist())
        for level, counts in enumerate(levels):
            counts += np.bincount(np.asarray(ids)[:, level] - tok.vocab_offset
                                  - level * len(counts), minlength=len(counts))
        out, failed = (_decode_batch if per_step else _decode_each)(tok, ids, batch)
        failures += int(failed.sum())
        err = np.abs(out - batch)[~failed].reshape(-1, dims)
        if err.size:
            sq_err += (err ** 2).sum(axis=0)
            max_err = np.maximum(max_err, err.max(axis=0))
    rmse = np.sqrt(sq_err / max(1, (n - failures) * steps))
    mean_len = float(lengths.mean())
    names, scales = list(profile.names), profile.scales
    units = [f'{d.name} [{d.unit or "-"}]' for d in profile.dimensions]
    tail, total = checks.tail_steps(episodes, steps if stride in (None, steps) else 1)
    m = {
        'chunks': n, 'chunk_steps': steps, 'values_per_chunk': steps * dims,
        'steps': total, 'tail_steps_not_measured': tail,
        'tokens_per_chunk_mean': mean_len,
        'tokens_per_chunk_p95': float(np.percentile(lengths, 95)),
        'tokens_per_chunk_max': int(lengths.max()),
        'compression_ratio': float(steps * dims / mean_len),
        # mean x rate / steps, not mean / seconds: D x rate exactly for per-step tokenizers.
        'tokens_per_second': mean_len * profile.control_rate_hz / steps,
        'rmse': dict(zip(names, rmse.tolist())),
        'rmse_physical': dict(zip(units, (rmse * scales).tolist())),
        'max_abs_error': dict(zip(names, max_err.tolist())),
        'max_abs_error_physical': dict(zip(units, (max_err * scales).tolist())),
        'decode_failures': failures, 'action_clips': dict(zip(names, clips.tolist())),
        'vocab_used': len(seen) / tok.vocab_size,
    }
    if coeff_clips is not None:
        m['coefficients_per_chunk'] = steps * dims
        m['length_fixes'] = tok.length_fixes - fixes0
        m['coefficient_clips'] = dict(zip(names, coeff_clips.tolist()))
    if levels:
        from robotok_ros.tokenizers.chunking import usage
        used, perplexity = usage(np.stack(levels))
        m['codebook_used'], m['codebook_perplexity'] = used.tolist(), perplexity.tolist()
    return m


def _fit(tok, spec, train, progress):
    # ranges=data was applied when the spec was built; what is left is learned state.
    return tok.fit(train, progress=progress) if spec.capabilities.needs_fit else tok


def summarize(label, tok, metrics, fit_seconds, source):
    """Return one result record: identity, fit time and ``metrics`` plus the position RMSE."""
    pos = position_dims(tok.profile)
    rmse = np.array(list(metrics['rmse'].values())) * tok.profile.scales
    return {'label': label, 'kind': tok.kind, 'source': source, 'settings': tok.settings(),
            'vocab_size': tok.vocab_size, 'chunk_steps': tok.chunk_steps,
            'fit_seconds': fit_seconds,
            'position_rmse_physical_mean': float(rmse[pos].mean()), **metrics}


def _warnings(label, tok, spec, m, train, val, profile):
    """Return the warning lines of one measured tokenizer (see ``checks``)."""
    lines, fitted = [], tok.profile  # ranges=data: fitted on train, not the user's profile
    ranges = checks.tokenizer_ranges(tok)
    if ranges is not None:
        wide, clip = spec.fixes(profile, val) if spec else (
            'refit it with ranges that fit the data', 'refit it on data that covers these values')
        lines += checks.range_warnings(checks.range_findings(*ranges, train, val, fitted),
                                       fitted, label, wide, clip)
    if 'codebook_used' in m:
        windows = checks.window_count(train, tok.chunk_steps, getattr(tok, 'stride', 1))
        found = checks.codebook_findings(m['codebook_used'], m['chunks'], tok.codebook_shape()[1],
                                         tok.history if spec else (), windows)
        lines += checks.codebook_warnings(
            found, label, 'fewer codes (C=) would fit this data, or give more training data',
            f'train longer (:epochs=N in the spec; analyze trains {tok.epochs} unless told)')
    tail = checks.tail_warning(label, m['tail_steps_not_measured'], m['steps'], tok.chunk_steps)
    return lines + ([tail] if tail else [])


def compare(specs, train, val, profile, loaded=(), progress=False, log=None):
    """
    Fit each spec on ``train`` and measure it, and each loaded tokenizer, on ``val``.

    ``train``/``val``: lists of ``(T, D)`` episodes; ``loaded``: ``(label,
    tokenizer)`` pairs measured as they are.  ``progress``: tqdm bars on
    stderr (one over the tokenizers, and each fit's own).  ``log``: a
    callable taking one line of progress.  Returns a list of result dicts (see
    ``summarize``), each with ``warnings``: lines on ranges far wider than the
    data, held-out clips, codebook use and unmeasured tails (see ``checks``).
    """
    from tqdm import tqdm
    for label, tok in loaded:
        if tok.dim != profile.dim:
            raise ConfigError(f'--load {label}: tokenizer has {tok.dim} dimensions, profile '
                              f'{profile.name} has {profile.dim}')
    # Every spec is built before any is fitted: a bad one fails before minutes of training.
    jobs = [(spec.label, spec.build(profile, train), spec) for spec in specs]
    jobs += [(label, tok, None) for label, tok in loaded]
    results = []
    bar = tqdm(jobs, desc='analyze', unit='tokenizer', file=sys.stderr, disable=not progress)
    for label, tok, spec in bar:
        bar.set_postfix_str(label)
        seconds = 0.0
        if spec is not None:
            if log and spec.capabilities.fit_needs_torch:  # the one fit that takes minutes
                windows = checks.window_count(train, tok.chunk_steps, tok.stride)
                log(f'{label}: training {tok.epochs} epoch(s) on {windows} windows')
            start = time.perf_counter()
            try:
                _fit(tok, spec, train, progress)
            except RobotokError as exc:
                raise type(exc)(f'--tokenizers item {spec.label!r}: {exc}') from None
            seconds = time.perf_counter() - start
        m = chunk_metrics(tok, val)
        result = summarize(label, tok, m, seconds, 'fit' if spec else 'load')
        result['warnings'] = _warnings(label, tok, spec, m, train, val, profile)
        results.append(result)
        if log and spec is not None:
            log(f'{spec.label}: fitted in {seconds:.1f} s')
    return results
