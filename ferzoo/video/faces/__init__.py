"""Faces in clips: MTCNN detection, one face per clip, tracking, smoothing, alignment.

The path from a clip to aligned face frames, as STC-NLSTM prepares its input (Yu et
al. 2018, Sec. 4.1: "MTCNN ... coordinates of two eyes ... rectangular face by keeping
the distances between two eyes invariable ... a square through zero padding ...
64 x 64"):

1. **detect** (:class:`FaceDetector`): MTCNN (the ``mtcnn`` package, weights in the
   wheel) on every ``every``-th frame ("keyframes"), optionally on a copy downscaled
   so its longer side is at most ``max_side``, in batches; faces below
   ``min_confidence`` (default 0.9) are dropped.
2. **choose** (:func:`choose_face`): one face per keyframe: the largest, the most
   central, or (default) the one that continues the track of the previous keyframe.
3. **between keyframes**: keypoints interpolated linearly, or tracked with
   Lucas-Kanade optical flow and corrected towards the next detection
   (``between="flow"``).
4. **gaps**: runs of frames without a face of at most ``max_gap`` frames are
   interpolated from their neighbours (held at the clip's ends); longer runs are
   reported, and the clip is skipped (``on_long_gap="skip"``, default), or those
   frames are dropped (``"drop"``) or interpolated anyway (``"fill"``).
5. **smooth**: Gaussian smoothing of the keypoints and boxes over time.
6. **align** (:func:`align_face`): rotate so the eyes are level, crop a rectangle set
   by the eye distance, zero-pad it to a square, resize to ``size``.

:func:`align_clip` runs all of it over a :class:`~ferzoo.video.io.FrameSource`
in a few streamed passes (only the aligned output is held in memory).

The stages live in four modules, each importing only those before it:

- :mod:`~ferzoo.video.faces.detect`: MTCNN (stage 1), :class:`Face`,
  :class:`NoFaceError`;
- :mod:`~ferzoo.video.faces.track`: stages 2-5, :class:`FaceOptions` (the settings
  of detection and tracking), :class:`FaceTrack` and :func:`track_face`;
- :mod:`~ferzoo.video.faces.align`: stage 6 on one frame (:func:`align_face`), and
  :func:`square_resize` for clips already cropped;
- :mod:`~ferzoo.video.faces.clip`: the whole clip (:func:`align_clip`, with the
  keypoints refined on level faces) and :func:`contact_sheet`.

Every public name of these modules is importable from ``ferzoo.video.faces``.

Coordinates are OpenCV's: x right, y down, pixel centres at integers. MTCNN's
``left_eye`` is the eye on the image's left (the subject's right eye).
"""

from ferzoo.video.faces.align import (
    CROP_ABOVE,
    CROP_BELOW,
    CROP_WIDTH,
    align_face,
    aligned_eye_positions,
    alignment_matrix,
    square_resize,
    transform_points,
)
from ferzoo.video.faces.clip import AlignedClip, align_clip, contact_sheet, refine_keypoints
from ferzoo.video.faces.detect import (
    DEFAULT_MIN_CONFIDENCE,
    KEYPOINT_NAMES,
    LEFT_EYE,
    RIGHT_EYE,
    Face,
    FaceDetector,
    NoFaceError,
    mtcnn_model,
    quiet_tensorflow,
)
from ferzoo.video.faces.track import (
    BETWEEN,
    CHOICES,
    DETECTED,
    FILLED,
    LONG_GAP_POLICIES,
    MISSING,
    STATE_NAMES,
    TRACKED,
    FaceOptions,
    FaceTrack,
    choose_face,
    detect_keyframes,
    eye_errors,
    fill_all,
    fill_gaps,
    gaussian_smooth,
    refine_with_flow,
    smooth_track,
    track_face,
)

__all__ = [
    # detect
    "KEYPOINT_NAMES", "LEFT_EYE", "RIGHT_EYE", "DEFAULT_MIN_CONFIDENCE", "NoFaceError",
    "Face", "quiet_tensorflow", "mtcnn_model", "FaceDetector",
    # track
    "MISSING", "DETECTED", "TRACKED", "FILLED", "STATE_NAMES", "CHOICES", "BETWEEN",
    "LONG_GAP_POLICIES", "choose_face", "FaceOptions", "FaceTrack", "detect_keyframes",
    "refine_with_flow", "fill_gaps", "fill_all", "gaussian_smooth", "smooth_track",
    "track_face", "eye_errors",
    # align
    "CROP_WIDTH", "CROP_ABOVE", "CROP_BELOW", "alignment_matrix", "aligned_eye_positions",
    "transform_points", "align_face", "square_resize",
    # clip
    "AlignedClip", "refine_keypoints", "align_clip", "contact_sheet",
]
