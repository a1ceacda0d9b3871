"""The vision side of the policy: frames in, LM-width tokens out.

    frames uint8 [B, T, H, W, 3] -> conv stem per frame -> temporal conv per tubelet
        -> grid x grid region tokens per tubelet + segment / region embeddings -> [B, n_tokens, width]
        -> MLP projector -> [B, n_tokens, hidden]   (hidden = the LM's embedding width)

Both parts are always fully trained, with or without LoRA on the LM.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class VisionConfig:
    """Shape of the frame encoder; ``hidden_size`` is the LM's embedding width."""

    frame_shape: tuple[int, int, int, int] = (8, 32, 32, 3)
    hidden_size: int = 128
    stem_patch: int = 4
    """The stem's total stride (two stride-2 convolutions): frames become (H/4) x (W/4) feature maps."""
    stem_channels: int = 32
    grid: int = 4
    """Each token reads one of grid x grid regions of the feature map."""
    tubelet: int = 8
    """Consecutive frames one token reads (ViViT's tubelets); 1 gives per-frame tokens."""
    width: int = 128

    @property
    def n_frames(self) -> int:
        return self.frame_shape[0]

    @property
    def n_segments(self) -> int:
        return self.n_frames // self.tubelet

    @property
    def tokens_per_segment(self) -> int:
        return self.grid * self.grid

    @property
    def n_tokens(self) -> int:
        return self.n_segments * self.tokens_per_segment

    def validate(self) -> None:
        n_frames, height, width, channels = self.frame_shape
        cells = self.stem_patch * self.grid
        if channels != 3 or height % cells or width % cells:
            raise ValueError(
                f"frame shape {self.frame_shape}: need RGB frames whose height and width are multiples "
                f"of stem_patch * grid = {cells}"
            )
        if self.tubelet < 1 or n_frames % self.tubelet:
            raise ValueError(
                f"frame shape {self.frame_shape}: {n_frames} frames do not split into "
                f"tubelets of {self.tubelet}"
            )


class FrameEncoder(nn.Module):
    """A conv stem over each frame, a temporal convolution over tubelets of frames, then region tokens.

        per frame: conv 2x2/2 -> conv 3x3/2                     [B*T, C, H/4, W/4]
        per tubelet of ``tubelet`` frames: conv3d (tubelet, 3, 3) [B, C, S, H/4, W/4]   (S = T / tubelet)
        conv 3x3, then one token per (segment, region of the grid) -> [B, S * grid * grid, width]

    Motion lives in the temporal convolution, whose weights are shared across positions: with a few
    hundred clips, position-specific motion detectors (a linear map over a region and time) do not
    learn, translation-invariant ones do. An object's whole path through the clip fits in its receptive
    field (about 20 pixels), and so does the background around it, which is how camera motion and object
    motion can be told apart.
    """

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        channels = config.stem_channels
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels // 2, kernel_size=2, stride=2),
            nn.GroupNorm(4, channels // 2),
            nn.GELU(),
            nn.Conv2d(channels // 2, channels, kernel_size=3, stride=2, padding=1),
            nn.GroupNorm(8, channels),
            nn.GELU(),
        )
        self.temporal = nn.Sequential(
            nn.Conv3d(
                channels,
                channels,
                kernel_size=(config.tubelet, 3, 3),
                stride=(config.tubelet, 1, 1),
                padding=(0, 1, 1),
            ),
            nn.GroupNorm(8, channels),
            nn.GELU(),
            nn.Conv3d(channels, channels, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.GroupNorm(8, channels),
            nn.GELU(),
        )
        _, height, width, _ = config.frame_shape
        self.cells_h = height // config.stem_patch // config.grid
        self.cells_w = width // config.stem_patch // config.grid
        self.region = nn.Linear(channels * self.cells_h * self.cells_w, config.width)
        self.segment_embedding = nn.Parameter(torch.zeros(config.n_segments, 1, config.width))
        self.region_embedding = nn.Parameter(torch.zeros(1, config.tokens_per_segment, config.width))
        nn.init.normal_(self.segment_embedding, std=0.02)
        nn.init.normal_(self.region_embedding, std=0.02)

    def forward(self, frames: Tensor) -> Tensor:
        """uint8 ``[B, T, H, W, 3]`` -> ``[B, n_tokens, width]``, segment-major."""
        config = self.config
        batch, n_frames, height, width, _ = frames.shape
        pixels = frames.reshape(batch * n_frames, height, width, 3).permute(0, 3, 1, 2)
        features = self.stem(pixels.to(self.region.weight.dtype) / 127.5 - 1.0)  # [B*T, C, h, w]
        features = features.reshape(batch, n_frames, *features.shape[1:]).transpose(1, 2)  # [B, C, T, h, w]
        features = self.temporal(features)  # [B, C, S, h, w]
        grid, channels = config.grid, features.shape[1]
        shape = (batch, channels, config.n_segments, grid, self.cells_h, grid, self.cells_w)
        regions = features.reshape(shape).permute(0, 2, 3, 5, 1, 4, 6)  # [B, S, gh, gw, C, ch, cw]
        regions = regions.reshape(batch, config.n_segments, grid * grid, -1)
        tokens = self.region(regions) + self.segment_embedding + self.region_embedding
        return tokens.reshape(batch, config.n_tokens, -1)


class Projector(nn.Sequential):
    """LLaVA-style two-layer MLP from encoder width to the LM's embedding width."""

    def __init__(self, width: int, hidden_size: int) -> None:
        super().__init__(nn.Linear(width, hidden_size), nn.GELU(), nn.Linear(hidden_size, hidden_size))
