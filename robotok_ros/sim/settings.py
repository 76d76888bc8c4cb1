"""
SimArm's settings: one frozen dataclass, every value checked, the offending one named.

``physics_hz`` >= 500: contacts and the stiff joint servo (15 Hz bandwidth, ``scene.py``)
need a step of 2 ms or less. Servo's own parameters sit in ``servo`` (``ServoSettings``).
"""

from dataclasses import dataclass, field, fields
import math
from typing import Optional

from robotok_ros.errors import ConfigError
from robotok_ros.sim.servo import ServoSettings

MIN_PHYSICS_HZ = 500.0


@dataclass(frozen=True)
class SimSettings:
    """
    Simulation settings; every value is checked here, the offending one named.

    - ``physics_hz``: MuJoCo steps per simulated second (>= 500).
    - ``cube_xy_range``: the cube starts up to this far (m, per axis, uniform) from the
      arm's cube spot (``models.ArmModel.cube_xy``).
    - ``lift_height``: ``TaskState.lifted`` once the cube is this much (m) above its start.
    - ``reject_over_speed``: reject twists above the profile's safety limits (a
      token_decoder that clamps never sends one); False lets Servo's speed cap act instead.
    - ``visual``: load the visual meshes (needed for rendering, not for the physics).
    - ``model``: which simulated robot (``models.ROBOTS`` key); None: the profile's name.
    - ``servo``: MoveIt Servo's parameters.
    """

    physics_hz: float = 500.0
    cube_xy_range: float = 0.04
    lift_height: float = 0.05
    reject_over_speed: bool = True
    visual: bool = True
    model: Optional[str] = None
    servo: ServoSettings = field(default_factory=ServoSettings)

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ('reject_over_speed', 'visual'):
                if not isinstance(value, bool):
                    raise ConfigError(f'sim.{f.name} must be a bool, got {value!r}')
            elif f.name in ('physics_hz', 'cube_xy_range', 'lift_height'):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                        not math.isfinite(value) or value < 0:
                    raise ConfigError(f'sim.{f.name} must be a finite number >= 0, '
                                      f'got {value!r}')
        if self.physics_hz < MIN_PHYSICS_HZ:
            raise ConfigError(f'sim.physics_hz must be >= {MIN_PHYSICS_HZ:g} (contacts and the '
                              f'stiff joint servo need it), got {self.physics_hz!r}')
        if not isinstance(self.servo, ServoSettings):
            raise ConfigError(f'sim.servo must be a ServoSettings, got {self.servo!r}')
        ratio = self.servo.publish_period * self.physics_hz
        if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-6:
            raise ConfigError('servo.publish_period must be a whole number of physics steps '
                              f'(1/{self.physics_hz:g} s), got {self.servo.publish_period!r}')
        if self.model is not None and not isinstance(self.model, str):
            raise ConfigError(f'sim.model must be a model name or None, got {self.model!r}')
