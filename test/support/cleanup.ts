// Whatever a test asserted, no process that its jobs started outlives it.
import { afterEach } from 'vitest'
import { killLeftovers } from './runner.js'

afterEach(killLeftovers)
