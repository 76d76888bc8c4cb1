"""`robotok collect`: record scripted demonstrations in sim_arm through the real nodes."""

import sys


def _collect(args):
    from robotok_ros.demo.collect import collect
    if args.episodes < 1:
        print(f'robotok collect: --episodes must be at least 1, got {args.episodes}',
              file=sys.stderr)
        return 2

    def progress(i, r):
        print(f'episode {i + 1}/{args.episodes}: seed {r["seed"]}, '
              f'{"lifted and held" if r["done"] else "FAILED"} after {r["seconds"]:.1f} s '
              f'-> {r["bag"]}', file=sys.stderr, flush=True)

    summary = collect(args.robot, args.episodes, args.out, seed=args.seed, rtf=args.rtf,
                      max_seconds=args.max_seconds, progress=progress, push=args.push)
    ok = sum(r['done'] for r in summary['episodes'])
    print(f'{ok} of {len(summary["episodes"])} demonstrations lifted the cube; bags in '
          f'{args.out}/bags, summary in {args.out}/collect.json')
    return 0


def register(sub):
    """Add `robotok collect`."""
    p = sub.add_parser('collect', help='record scripted pick-and-lift demonstrations in sim',
                       description='Run sim_arm, a scripted SpaceMouse operator, '
                                   'teleop_tokenizer and episode_recorder\n(each its own '
                                   'process, on sim time) and record one bag per episode with '
                                   'the robot state.')
    p.add_argument('--out', required=True, help='folder for bags/, collect.json, nodes.log')
    p.add_argument('--episodes', type=int, default=50, help='demonstrations (default 50)')
    p.add_argument('--robot', default='franka_panda', help='profile of the simulated arm')
    p.add_argument('--seed', type=int, default=0, help='first seed; each episode the next')
    p.add_argument('--rtf', type=float, default=2.0,
                   help='simulated seconds per wall second (default 2)')
    p.add_argument('--max-seconds', type=float, default=20.0,
                   help='simulated seconds an episode may take (default 20)')
    p.add_argument('--push', type=float, default=0.0,
                   help='DART push (m/s): a random push the arm gets but the log does not, '
                        'so demonstrations show corrections (default 0: none)')
    p.set_defaults(func=_collect)
