#!/usr/bin/env python3
"""Exploration (not calibration): a permuted copy's time (permute + contiguous)
against the length of its contiguous runs, its bytes and its dimension count,
beside a contiguous copy and a 2-D element transpose of the same bytes, to
choose the features a permuted copy needs (ShuffleNet's channel shuffle,
attention's head split); and a concat of an expanded view (ViT's class token)
beside a concat of the same, materialized, inputs. JSON lines on stdout;
argv[1]: seconds to stop after."""
import json
import sys
import time

from explore_cat import time_us

import torch


def emit(**kw):
    print(json.dumps(kw), flush=True)


def main():
    deadline = time.time() + float(sys.argv[1]) if len(sys.argv) > 1 else 1e18
    dev = "cuda"
    for dt in (torch.bfloat16, torch.float32):
        es = torch.tensor([], dtype=dt).element_size()
        name = str(dt)[6:]
        for total in (1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24, 1 << 26):
            if time.time() > deadline:
                return
            n = total // es
            x = torch.randn(n, device=dev, dtype=dt)
            emit(dtype=name, bytes=total, kind="copy", us=round(time_us(lambda: x.clone()), 3))
            side = int(n ** 0.5)
            m = x[:side * side].view(side, side)
            emit(dtype=name, bytes=side * side * es, kind="transpose", us=round(time_us(lambda: m.t().contiguous()), 3))
            # channel shuffle: [1, g, rows/g, run] -> [1, rows/g, g, run], runs of `run` elements
            for run in (1, 4, 16, 49, 196, 784, 3136):
                rows = n // run
                for groups in (2, 4):
                    if rows < 4 * groups or rows % groups or time.time() > deadline:
                        continue
                    y = x[:rows * run].view(1, groups, rows // groups, run)
                    us = time_us(lambda: y.transpose(1, 2).contiguous())
                    emit(dtype=name, bytes=rows * run * es, kind="shuffle", run_bytes=run * es, groups=groups, dims=4,
                         us=round(us, 3))
                # the same shuffle as ShuffleNet writes it: 5 dimensions, [b, g, c/g, h, w]
                if run in (49, 196, 784, 3136) and rows % 64 == 0 and time.time() < deadline:
                    hw = int(round(run ** 0.5))
                    b = 4 if rows >= 4 * 64 else 1
                    y = x[:rows * run].view(b, 2, rows // (2 * b), hw, hw)
                    us = time_us(lambda: y.transpose(1, 2).contiguous())
                    emit(dtype=name, bytes=rows * run * es, kind="shuffle5", run_bytes=run * es, groups=2, batch=b,
                         us=round(us, 3))
            # head split: [b, s, h, d] -> [b, h, s, d], runs of d elements
            for d in (32, 64, 128):
                heads = 16
                s = n // (heads * d)
                if s < 1 or time.time() > deadline:
                    continue
                y = x[:s * heads * d].view(1, s, heads, d)
                us = time_us(lambda: y.transpose(1, 2).contiguous())
                emit(dtype=name, bytes=s * heads * d * es, kind="heads", run_bytes=d * es, us=round(us, 3))
        # ViT's class token: cat([cls.expand(B, 1, D), x], 1) against a cat of materialized inputs
        for b in (1, 4, 16, 64, 256):
            for seq, dim in ((49, 768), (196, 768), (196, 1024), (256, 1280)):
                if time.time() > deadline:
                    return
                cls = torch.randn(1, 1, dim, device=dev, dtype=dt)
                xs = torch.randn(b, seq, dim, device=dev, dtype=dt)
                cm = cls.expand(b, -1, -1).contiguous()
                e = time_us(lambda: torch.cat([cls.expand(b, -1, -1), xs], 1))
                c = time_us(lambda: torch.cat([cm, xs], 1))
                emit(dtype=name, bytes=b * (seq + 1) * dim * es, kind="cls_cat", batch=b, seq=seq, dim=dim,
                     expanded_us=round(e, 3), materialized_us=round(c, 3))


if __name__ == "__main__":
    main()
