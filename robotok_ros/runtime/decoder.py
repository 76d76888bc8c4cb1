"""
ROS-free logic of token_decoder: token ids -> checked actions -> safe, timed commands.

- Message checks (``runtime.token_check``): layout, length, the motion one
  message may queue (``max_queue_seconds``), id ranges, a finite decode; every
  rejection is counted by reason.  Only new valid input feeds the watchdog:
  playing queued steps never does, so motion stops ``command_timeout`` after
  the last valid message, however long a chunk was.
- Playout (``runtime.playout.Playout``): ``replace`` plays a chunk's first step
  at once and the rest one per control period; ``ensemble`` is ACT's temporal
  ensembling (Zhao et al., 2023, arXiv:2304.13705) and plays on ticks.  A new
  message cancels what is queued past its own chunk, a disable or a watchdog
  trip everything.
- Commands: velocity = delta x scale x control rate, then ``runtime.limits``
  (speed, acceleration, workspace box; each clamp counted by kind); the gripper
  value goes through the profile's gripper convention.  Pose targets are built
  only onto a fresh, finite measured pose (``runtime.pose``).  A workspace box
  needs that pose too: without one, enabling is refused, and losing it while
  enabled disables motion by a fault (a stop command, diagnostics ERROR).
"""

import time

from robotok_ros.data.wire import parse_step_label
from robotok_ros.errors import ConfigError
from robotok_ros.runtime.commands import ActionMap, Command, STOP
from robotok_ros.runtime.decoder_inputs import COUNTERS, DecoderInputs
from robotok_ros.runtime.geometry import integrate_pose
from robotok_ros.runtime.health import Health
from robotok_ros.runtime.limits import CLAMP_KINDS, Limits, MotionLimiter
from robotok_ros.runtime.playout import Playout
from robotok_ros.runtime.pose import MeasuredPose
from robotok_ros.runtime.safety import check_timeout, clamp_speed, Watchdog
from robotok_ros.runtime.token_check import REASONS, Rejected, TokenCheck

__all__ = ['Command', 'DecoderCore', 'Rejected', 'REASONS', 'STOP']
MODES = ('twist', 'pose')


class DecoderCore(DecoderInputs):
    """
    Everything token_decoder does between a message's ids and the commands it publishes.

    Generated sequences, text actions and continuous chunks: ``DecoderInputs``.
    """

    def __init__(self, profile, tokenizer, chunk_policy='replace', command_timeout=0.5,
                 stop_repeats=3, ensemble_decay=0.01, max_queue_seconds=1.0,
                 pose_max_age=0.2, output_mode='twist', start_enabled=False):
        if output_mode not in MODES:
            raise ConfigError(f'output_mode must be one of {", ".join(MODES)}, '
                              f'got {output_mode!r}')
        if not (isinstance(max_queue_seconds, (int, float)) and max_queue_seconds > 0):
            raise ConfigError(f'max_queue_seconds must be > 0, got {max_queue_seconds!r}')
        self.profile, self.tokenizer, self.mode = profile, tokenizer, output_mode
        self.dim, self.rate = profile.dim, profile.control_rate_hz
        self.period = 1.0 / self.rate
        self.checker = TokenCheck(profile, tokenizer, int(max_queue_seconds * self.rate + 1e-9))
        self.playout = Playout(self.dim, chunk_policy, ensemble_decay)
        self.replace = chunk_policy == 'replace'
        self.watchdog = Watchdog(command_timeout, stop_repeats)
        self.max_timeout = self.watchdog.timeout
        self.ceiling = Limits.from_profile(profile)
        self.limiter = MotionLimiter(self.ceiling, self.period)
        self.pose = MeasuredPose(pose_max_age)
        self.box = self.ceiling.workspace is not None
        self.needs_pose = self.box or output_mode == 'pose'
        self.map = ActionMap(profile)
        self.has_cartesian = self.map.has_cartesian
        self.counters = {'received': 0, 'decoded': 0, 'steps': 0, 'clamps': 0,
                         'ignored_disabled': 0, 'input_gaps': 0, 'input_missing_steps': 0,
                         'messages_lost': 0, 'qos_incompatible': 0, 'dry_run_commands': 0,
                         **dict.fromkeys(COUNTERS, 0)}
        self.rejected = dict.fromkeys(REASONS, 0)
        self.enabled, self.dry_run, self.fault = False, False, None
        self.pending_enable = False  # start_enabled with a box: enable on the first pose
        self.last_target = None
        self._seq = None
        self._lat = [0.0, 0, 0.0]  # sum, count, max of decode seconds since the last snapshot
        self._last_snapshot = None
        self.health = Health()
        if start_enabled:
            if self.box:
                self.pending_enable = True
                self.fault = 'workspace box set: waiting for a pose on robotok/ee_pose'
            else:
                self.enabled = True

    # -- input -----------------------------------------------------------------------------
    def on_tokens(self, data, now, dims=(), offset=0, label=''):
        """
        Take one message's ids (N,); return the Command to publish at once, or None.

        ``replace``: the chunk's first step plays now and the rest on later ticks
        (the caller runs its timer while ``len(self.playout)`` > 0); ``ensemble``:
        the chunk is merged and plays on ticks.  ``label``: the first layout
        dimension's label; a ``step=<i>;...`` sequence in it is checked for gaps.
        Rejected propagates after it is counted.
        """
        self.counters['received'] += 1
        if not self.enabled:
            self.counters['ignored_disabled'] += 1
            return None
        start = time.perf_counter()
        step = actions = None
        try:
            if self.stream is not None:  # a generated sequence: its action ids
                data, dims, offset = self._extract(data, dims, offset), (), 0
            if self.replace and not offset and (not dims or (
                    dims[-1] == len(data) and all(d == 1 for d in dims[:-1]))):
                step = self.checker.lookup(data)
            if step is None:
                actions = self.checker.check(data, dims, offset)
        except Rejected as exc:
            self.rejected[exc.reason] += 1
            raise
        finally:
            lat = time.perf_counter() - start
            self._lat[0] += lat
            self._lat[1] += 1
            if lat > self._lat[2]:
                self._lat[2] = lat
        return self._accept(step, actions, now, label)

    def _accept(self, step, actions, now, label):
        """Feed the watchdog and play a checked ``step`` (D floats) or ``actions`` (T, D)."""
        self.counters['decoded'] += 1
        self.watchdog.feed(now)
        if label:
            self._sequence(label, 1 if step is not None else len(actions))
        if step is not None:
            self.playout.clear()
            return self._play(step, now)
        self.playout.push(actions)
        return self.on_tick(now) if self.replace else None

    def _sequence(self, label, steps):
        parsed = parse_step_label(label)
        if parsed is None:
            return
        seq = parsed[0]
        if self._seq is not None and seq > self._seq:
            self.counters['input_gaps'] += 1
            self.counters['input_missing_steps'] += seq - self._seq
        self._seq = seq + steps

    def on_pose(self, position, quat, now):
        """Take a measured end-effector pose; return a log line when it enabled motion."""
        ok = self.pose.update(position, quat, now)
        if ok and self.pending_enable:
            self.pending_enable, self.fault, self.enabled = False, None, True
            self.limiter.reset()
            return 'enabled (start_enabled): the first pose arrived'
        return None

    # -- commands --------------------------------------------------------------------------
    def command_for(self, action):
        """Command for one decoded action (D floats): scaled, rate-multiplied, speed-clamped."""
        a = action.tolist() if hasattr(action, 'tolist') else list(action)
        limits = self.limiter.limits
        linear, angular = self.map.velocity(a)
        linear, c1 = clamp_speed(linear, limits.max_linear_speed)
        angular, c2 = clamp_speed(angular, limits.max_angular_speed)
        return Command(a, linear, angular, self.map.gripper(a), c1 or c2)

    def _play(self, action, now):
        a = action.tolist() if hasattr(action, 'tolist') else action
        pose = None
        if self.needs_pose:
            pose = self.pose.require(now)
            if pose is None:
                if self.box:
                    return self._fault(f'workspace box set but {self.pose.describe(now)}')
                return None  # pose mode: no target without a fresh pose (counted)
        linear, angular, clamped = self.limiter.apply(*self.map.velocity(a), now,
                                                      None if pose is None else pose[0])
        self.counters['steps'] += 1
        if clamped:
            self.counters['clamps'] += 1
        if self.dry_run:
            self.counters['dry_run_commands'] += 1
        grip = self.map.gripper(a)
        target = None
        if self.mode == 'pose':
            pos, quat = integrate_pose(*pose, linear, angular, self.period)
            target = self.last_target = (tuple(pos.tolist()), tuple(quat.tolist()))
        return Command(a, linear, angular, grip, clamped, target)

    def gripper_command(self, value):
        """Return ``profile.gripper.command(value)`` for one float, in plain Python."""
        a = [0.0] * self.dim
        a[self.map.grip_index] = value
        return self.map.gripper(a)

    def hold_target(self, now):
        """Pose mode stop target: the fresh measured pose, else the last target sent, or None."""
        pose = self.pose.fresh(now)
        return pose if pose is not None else self.last_target

    def on_tick(self, now):
        """Play the next queued step (one control period); None when nothing is queued."""
        if not self.enabled:
            return None
        action = self.playout.pop()
        return None if action is None else self._play(action, now)

    def on_watchdog(self, now):
        """Return True when a watchdog zero command is due at ``now`` (a trip stops playout)."""
        if not self.enabled:
            return False
        due = self.watchdog.tick(now)
        if self.watchdog.tripped:
            self.playout.clear()
            self.limiter.reset()
        return due

    # -- state -----------------------------------------------------------------------------
    def enable(self, now):
        """Let tokens move the robot; ConfigError (nothing changes) when a box has no pose."""
        if self.box and self.pose.fresh(now) is None:
            self.fault = f'workspace box set but {self.pose.describe(now)}'
            raise ConfigError(f'not enabled: {self.fault}; publish the measured '
                              'end-effector pose (PoseStamped, profile frame) first')
        if not self.enabled:
            self.limiter.reset()
        self.enabled, self.fault, self.pending_enable = True, None, False

    def disable(self):
        """Stop: clear the queue and the watchdog; return True when a zero must go out now."""
        was = self.enabled
        self.enabled, self.pending_enable, self.fault = False, False, None
        self.playout.clear()
        self.watchdog.stop()
        self.limiter.reset()
        return was

    def _fault(self, why):
        self.disable()
        self.fault = why
        return STOP

    def set_dry_run(self, flag):
        """Route commands to dry-run outputs or back; return True when a real stop is due."""
        was, self.dry_run = self.dry_run, bool(flag)
        if was != self.dry_run:
            self.limiter.reset()  # the real arm is at rest either way from here on
        return self.dry_run and not was and self.enabled

    def set_limits(self, timeout=None, **changes):
        """
        Lower limits at runtime, all or none; ConfigError says why not.

        ``changes``: name -> value (None: no limit); ``timeout``: command_timeout, up to
        its start-up value.
        """
        limits = self.limiter.limits.lowered(self.ceiling, **changes)
        if timeout is not None:
            timeout = check_timeout(timeout)
            if timeout > self.max_timeout:
                raise ConfigError(f'command_timeout {timeout:g} s is above its start-up value '
                                  f'{self.max_timeout:g} s: a running decoder may only lower '
                                  'it')
            self.watchdog.timeout = timeout
        self.limiter.limits = limits

    # -- health ----------------------------------------------------------------------------
    def snapshot(self, now):
        """Return diagnostics values: counters, rejections, clamps, rate, latency, limits."""
        received = self.counters['received']
        rate = 0.0
        if self._last_snapshot is not None and now > self._last_snapshot[0]:
            rate = (received - self._last_snapshot[1]) / (now - self._last_snapshot[0])
        self._last_snapshot = (now, received)
        total, count, worst = self._lat
        self._lat = [0.0, 0, 0.0]
        values = dict(self.counters)
        values.update({f'rejected_{k}': v for k, v in self.rejected.items()})
        values.update({f'clamps_{k}': self.limiter.counts[k] for k in CLAMP_KINDS})
        pc = self.pose.counts
        lim = self.limiter.limits
        values.update(
            rejected=sum(self.rejected.values()), watchdog_trips=self.watchdog.trips,
            enabled=self.enabled, dry_run=self.dry_run, fault=self.fault or '',
            queued_steps=len(self.playout), input_rate_hz=round(rate, 2),
            decode_latency_us_mean=round(1e6 * total / count, 1) if count else 0.0,
            decode_latency_us_max=round(1e6 * worst, 1), pose_received=pc['received'],
            pose_rejected=pc['non_finite'], pose_unavailable=pc['stale'] + pc['missing'],
            command_timeout=self.watchdog.timeout,
            **{k: getattr(lim, k) for k in ('max_linear_speed', 'max_angular_speed',
                                            'max_linear_accel', 'max_angular_accel')})
        return values

    def assess(self, values, now):
        """Return (level 'OK' | 'WARN' | 'ERROR', message) for a snapshot taken at ``now``."""
        return self.health.assess(values, now, self.fault)
