"""
Train a policy: cross-entropy on the action tokens of every step, AdamW, torch CPU.

AdamW with a linear warm-up and a cosine decay of the learning rate (one
cycle, as Loshchilov & Hutter 2017, SGDR, without restarts).  Episodes arrive
already split by episode (``cli/cmd_train_policy.py``): the layout and the
state normalisation come from the training episodes only.  Each epoch reports
the training and validation loss (teacher forced); at the end the validation
set is decoded greedily, as the robot would, for the per-token and whole-step /
whole-chunk exact accuracy, the decode failures and the action RMSE of the
decoded ids; the numpy policy's latency per call is measured on validation
states.
"""

import math
import sys
import time

import numpy as np
from robotok_ros.errors import ConfigError, InvalidTokenError
from robotok_ros.policy.data import histories, norm_stats
from robotok_ros.policy.infer import NumpyPolicy
from robotok_ros.policy.targets import make_layout, step_sequences, target_array, token_spans
from robotok_ros.policy.targets import tokens_from_model

EVAL_BATCH = 1024


def lr_factor(step, total, warmup=0.1):
    """Return the learning-rate factor at ``step`` of ``total``: linear warm-up, cosine decay."""
    warm = max(1, int(warmup * total))
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))


def samples(episodes, tok, layout, k, mean, std):
    """Return ``(histories (N, k, S) float32, targets (N, L), mask (N, L), sequences)``."""
    hist = np.concatenate([histories(ep.states, k) for ep in episodes])
    seqs = [s for ep in episodes for s in step_sequences(tok, ep.actions)]
    targets, mask = target_array(layout, seqs)
    return ((hist - mean) / std).astype(np.float32), targets, mask, seqs


def _loss(net, x, y, m):
    import torch.nn.functional as F
    logits = net(x, y) if net.ar else net(x)
    return F.cross_entropy(logits[m], y[m])


def _val_loss(net, x, y, m):
    import torch
    if not len(x):
        return float('nan')
    with torch.no_grad():
        total = sum(float(_loss(net, x[i:i + EVAL_BATCH], y[i:i + EVAL_BATCH],
                                m[i:i + EVAL_BATCH])) * int(m[i:i + EVAL_BATCH].sum())
                    for i in range(0, len(x), EVAL_BATCH))
    return total / max(1, int(m.sum()))


def greedy_ids(net, x):
    """Return greedy model ids ``(N, L)`` for normalised histories ``x`` (a torch tensor)."""
    import torch
    net.eval()
    if not len(x):
        return np.zeros((0, net.seq_len), np.int64)
    return torch.cat([net.greedy(x[i:i + EVAL_BATCH])[0]
                      for i in range(0, len(x), EVAL_BATCH)]).numpy()


def accuracy(pred, targets, mask):
    """Return (per-token accuracy over the mask, share of rows exact over their mask)."""
    hit = (pred == targets) & mask
    per_token = float(hit.sum() / max(1, mask.sum()))
    exact = float(np.mean((hit | ~mask).all(axis=1))) if len(mask) else float('nan')
    return per_token, exact


def decode_check(tok, layout, pred, episodes):
    """Return (decode failures, action RMSE of the decoded ids) over ``episodes``' steps."""
    failures, errors, row = 0, [], 0
    for ep in episodes:
        k = 1 if layout.per_step else tok.chunk_steps
        padded = np.concatenate([ep.actions, np.repeat(ep.actions[-1:], k - 1, axis=0)])
        for t in range(len(ep.actions)):
            ids = tokens_from_model(layout, pred[row])
            row += 1
            try:
                got = tok.decode(ids[None])[0] if layout.per_step else tok.decode_chunk(ids)
            except InvalidTokenError:
                failures += 1
                continue
            errors.append(np.asarray(got).reshape(-1, tok.dim) - padded[t:t + k])
    rmse = float(np.sqrt(np.mean(np.concatenate(errors) ** 2))) if errors else float('nan')
    return failures, rmse


def measure_latency(policy, hist, n=50):
    """Return (mean, p95) ms of ``policy.predict`` on up to n raw histories ``(N, k, S)``."""
    times = []
    for h in hist[np.linspace(0, len(hist) - 1, min(n, len(hist))).astype(int)]:
        start = time.perf_counter()
        policy.predict(h)
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.mean(times)), float(np.percentile(times, 95))


def train_policy(train, val, tok, names, config, settings, progress=True):
    """
    Train on episodes ``train``, measure on ``val`` (lists of StateEpisode); return the result.

    Returns ``(layout, arrays, metrics, policy)``: what ``files.save_policy`` writes
    and the loaded NumpyPolicy.  ``progress``: a tqdm bar on stderr.
    """
    import torch
    from robotok_ros.policy.model import numpy_arrays, PolicyNet
    from tqdm import tqdm
    if not train or not val:
        raise ConfigError(f'a policy needs training and validation episodes, got {len(train)} '
                          f'and {len(val)}')
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    seqs = [s for ep in train for s in step_sequences(tok, ep.actions)]
    layout = make_layout(tok, seqs, names, margin=2)
    mean, std = norm_stats(train)
    k = config.history
    xs, ys, ms, _ = samples(train, tok, layout, k, mean, std)
    xv, yv, mv, _ = samples(val, tok, layout, k, mean, std)
    xs, ys, ms = torch.from_numpy(xs), torch.from_numpy(ys), torch.from_numpy(ms)
    xv_t, yv_t, mv_t = torch.from_numpy(xv), torch.from_numpy(yv), torch.from_numpy(mv)
    net = PolicyNet(config, layout, token_spans(tok)[0] if layout.span_total else None)
    opt = torch.optim.AdamW(net.parameters(), lr=settings.lr,
                            weight_decay=settings.weight_decay)
    n_steps = settings.epochs * -(-len(xs) // settings.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, n_steps))
    gen = torch.Generator().manual_seed(settings.seed)
    history, start = [], time.perf_counter()
    bar = tqdm(range(settings.epochs), desc='train-policy', unit='epoch', file=sys.stderr,
               disable=not progress)
    for epoch in bar:
        net.train()
        total, count = 0.0, 0
        for idx in torch.randperm(len(xs), generator=gen).split(settings.batch_size):
            loss = _loss(net, xs[idx], ys[idx], ms[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total, count = total + loss.item() * len(idx), count + len(idx)
        net.eval()
        record = {'epoch': epoch + 1, 'train_loss': total / count,
                  'val_loss': _val_loss(net, xv_t, yv_t, mv_t)}
        history.append(record)
        bar.set_postfix(loss=f'{record["train_loss"]:.3f}', val=f'{record["val_loss"]:.3f}')
    seconds = time.perf_counter() - start
    pred_val, pred_train = greedy_ids(net, xv_t), greedy_ids(net, xs)
    val_tok, val_exact = accuracy(pred_val, yv, mv)
    train_tok, train_exact = accuracy(pred_train, ys.numpy(), ms.numpy())
    failures, rmse = decode_check(tok, layout, pred_val, val)
    arrays = numpy_arrays(net, mean, std)
    policy = NumpyPolicy(config, layout, arrays)
    raw_val = np.concatenate([histories(ep.states, k) for ep in val])
    lat_mean, lat_p95 = measure_latency(policy, raw_val)
    cut = sum(len(s) > layout.seq_len - int(layout.variable_length)
              for ep in val for s in step_sequences(tok, ep.actions))
    metrics = {
        'train_episodes': len(train), 'val_episodes': len(val),
        'train_steps': len(xs), 'val_steps': len(xv), 'train_seconds': seconds,
        'threads': settings.threads, 'history': history,
        'train_loss': history[-1]['train_loss'], 'val_loss': history[-1]['val_loss'],
        'train_token_accuracy': train_tok, 'train_exact_accuracy': train_exact,
        'val_token_accuracy': val_tok, 'val_exact_accuracy': val_exact,
        'exact_unit': 'step' if layout.per_step else 'chunk',
        'val_decode_failures': failures, 'val_action_rmse': rmse,
        'val_sequences_cut': int(cut), 'seq_len': layout.seq_len,
        'tokens_per_message': None if layout.variable_length else layout.seq_len,
        'messages_every_steps': 1 if layout.per_step else layout.chunk_steps,
        'inference_ms_per_call_mean': lat_mean, 'inference_ms_per_call_p95': lat_p95,
        'inference_ms_per_step_mean': lat_mean / (1 if layout.per_step else
                                                  layout.chunk_steps)}
    return layout, arrays, metrics, policy
