"""Video Scene Layouts and the camera model that places sounds in the frame."""

from spa2v.layout.camera import Camera
from spa2v.layout.vsl import VSL, BoxPlacement, Keyframe, LayoutError, VSLObject

__all__ = ["VSL", "BoxPlacement", "Camera", "Keyframe", "LayoutError", "VSLObject"]
