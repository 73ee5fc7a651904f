import sys

from keras_inception.cli import main

sys.exit(main())
