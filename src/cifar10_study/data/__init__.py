"""CIFAR-10's fixed facts, in one place: every other module takes the image shape and classes from here."""
import math

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
NUM_CLASSES = len(CLASSES)
IMAGE_SHAPE = (3, 32, 32)  # channels, height, width; the images are square
IMAGE_SIZE = IMAGE_SHAPE[1]  # px
PIXELS = math.prod(IMAGE_SHAPE)  # values per image (3,072), the length of a row in the official batches
